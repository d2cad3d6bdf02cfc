"""`python -m keras_attn ...` is the `keras-attn` command."""

import sys

from keras_attn.cli import main

if __name__ == "__main__":
    sys.exit(main())
