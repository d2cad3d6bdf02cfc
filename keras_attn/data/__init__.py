"""Dataset loaders (plain-Python text sources) and the `tf.data` pipelines that batch token ids."""

from keras_attn.data.number_words import normalize_english_number
from keras_attn.data.numbers import NumberPair
from keras_attn.data.numbers import NumberSplits
from keras_attn.data.numbers import load_numbers_en_fr
from keras_attn.data.numbers import number_pair
from keras_attn.data.numbers import split_numbers
from keras_attn.data.pipelines import contiguous_windows
from keras_attn.data.pipelines import random_windows
from keras_attn.data.pipelines import sequence_task_batches
from keras_attn.data.pipelines import translation_batches
from keras_attn.data.sequence_tasks import SequenceData
from keras_attn.data.sequence_tasks import SequenceSplits
from keras_attn.data.sequence_tasks import decoder_inputs_and_labels
from keras_attn.data.sequence_tasks import load_sequence_task
from keras_attn.data.shakespeare import ShakespeareText
from keras_attn.data.shakespeare import Speech
from keras_attn.data.shakespeare import format_speeches
from keras_attn.data.shakespeare import load_shakespeare
from keras_attn.data.shakespeare import load_speeches
from keras_attn.data.shakespeare import play_titles
from keras_attn.data.text_files import load_text_file
from keras_attn.data.text_files import load_tsv_pairs

__all__ = [
    "NumberPair",
    "NumberSplits",
    "SequenceData",
    "SequenceSplits",
    "ShakespeareText",
    "Speech",
    "contiguous_windows",
    "decoder_inputs_and_labels",
    "format_speeches",
    "load_numbers_en_fr",
    "load_sequence_task",
    "load_shakespeare",
    "load_speeches",
    "load_text_file",
    "load_tsv_pairs",
    "normalize_english_number",
    "number_pair",
    "play_titles",
    "random_windows",
    "sequence_task_batches",
    "split_numbers",
    "translation_batches",
]
