"""Shipping a trained generator (support layer, plain torch): the self-describing model folder
(``model.safetensors`` + ``config.json`` + a model card), ONNX graphs and ``torch.export`` programs.
Nothing here imports Lightning, and the folder holds no pickle."""
