"""Checkpoints written by other StyleGAN implementations, read and mapped onto our networks.

One module per source (``rosinality``: stylegan2-pytorch ``.pt`` files; ``nvlabs``: stylegan2-ada-pytorch
network pickles, read by ``safe_pickle``'s restricted unpickler). Each reads its files without
running code from them and returns plain state dicts and hyper-parameters in our checkpoint layout;
the ``convert`` command writes them. Imports nets/, errors, images and sampling only.
"""
