"""Save a tokenizer, with its vocabulary, next to a model, and load it back."""

import json
import os
import pathlib

import keras
import keras_hub

TOKENIZER_FILE = "tokenizer.json"


def save_tokenizer(tokenizer, directory):
    """Writes `directory/tokenizer.json`, from which `load_tokenizer` rebuilds it.

    The file is `keras.saving.serialize_keras_object(tokenizer)` as UTF-8
    JSON. `CharacterTokenizer` and `ReversibleWordPieceTokenizer` keep their
    vocabulary in their config, so the file holds everything; other keras-hub
    tokenizers that keep theirs in asset files (e.g. `WordPieceTokenizer`)
    also get those files written into `directory` by their `save_assets`.

    Args:
        tokenizer: a keras-hub tokenizer, e.g. one from `keras_attn.text`.
        directory: a directory path; it is created if needed, and an earlier
            tokenizer file in it is replaced.

    Returns:
        The `pathlib.Path` of the JSON file.

    Example:

    >>> import tempfile
    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["zéro", "un zéro"])
    >>> directory = tempfile.mkdtemp()
    >>> save_tokenizer(tokenizer, directory).name
    'tokenizer.json'
    >>> loaded = load_tokenizer(directory)
    >>> loaded.get_vocabulary() == tokenizer.get_vocabulary()
    True
    >>> loaded.detokenize(loaded("un zéro"))
    'un zéro'
    """
    if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        raise ValueError(
            "`tokenizer` must be a keras-hub tokenizer (keras_hub.tokenizers.Tokenizer). "
            f"Received: tokenizer={tokenizer!r}"
        )
    directory = _as_path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TOKENIZER_FILE
    config = keras.saving.serialize_keras_object(tokenizer)
    path.write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if tokenizer.file_assets:
        tokenizer.save_assets(os.fspath(directory))
    return path


def load_tokenizer(directory):
    """Rebuilds the tokenizer that `save_tokenizer` wrote into `directory`.

    Args:
        directory: the directory given to `save_tokenizer`.

    Returns:
        A tokenizer of the saved class, with the same vocabulary and
        settings, so it gives the same ids.

    Example:

    >>> import tempfile
    >>> from keras_attn.text import ByteTokenizer
    >>> directory = tempfile.mkdtemp()
    >>> _ = save_tokenizer(ByteTokenizer(sequence_length=8), directory)
    >>> load_tokenizer(directory)("Ô—").tolist()
    [195, 148, 226, 128, 148, 0, 0, 0]
    """
    path = _as_path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise ValueError(
            f"No tokenizer in {os.fspath(directory)!r}: {os.fspath(path)!r} does not "
            f"exist. Save one with save_tokenizer. Received: directory={directory!r}"
        )
    config = json.loads(path.read_text(encoding="utf-8"))
    # Importing keras_attn.text (this module's package) registered its classes.
    tokenizer = keras.saving.deserialize_keras_object(config)
    if tokenizer.file_assets:
        tokenizer.load_assets(os.fspath(path.parent))
    return tokenizer


def _as_path(directory):
    if not isinstance(directory, (str, os.PathLike)):
        raise ValueError(
            "`directory` must be a path (str or pathlib.Path). "
            f"Received: directory={directory!r}"
        )
    return pathlib.Path(directory)
