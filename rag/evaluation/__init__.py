"""Evaluation and benchmarks: data sets and metrics, reports, XQuAD-R, the peer baseline and the ``rag bench``
commands. The core never imports this package; the CLI reaches it lazily."""
