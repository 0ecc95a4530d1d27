"""The DeepLocalize benchmark: 40 buggy Keras programs with their fixes."""
