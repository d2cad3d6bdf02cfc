"""Helpers shared by the tokenizer tests."""

import tensorflow as tf


def graph_op_types(tokenizer):
    """The op types of `tokenize` and `detokenize` traced for a batch."""
    types = set()
    for fn, spec in [
        (tokenizer.tokenize, tf.TensorSpec([None], tf.string)),
        (tokenizer.detokenize, tf.RaggedTensorSpec([None, None], tf.int32)),
    ]:
        graph_def = tf.function(fn).get_concrete_function(spec).graph.as_graph_def()
        types |= {node.op for node in graph_def.node}
        # The bodies of control flow (an "If" in ByteTokenizer) are functions.
        for function in graph_def.library.function:
            types |= {node.op for node in function.node_def}
    return types


def core_tf(op_type):
    """Whether an op is core TensorFlow (tensorflow-text's are not in tf.raw_ops)."""
    return hasattr(tf.raw_ops, op_type)


def tokenize_in_tf_data(tokenizer, texts):
    """The ids that `tokenizer` gives inside a tf.data pipeline, as lists."""
    dataset = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)
    return [ids.numpy().tolist() for ids in dataset]
