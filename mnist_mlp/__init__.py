"""mnist-mlp: a from-scratch NumPy multilayer perceptron for MNIST.

The seed's modules are the public face: ``layers``, ``loss``, ``network``,
``solve_net``, ``load_data`` and ``utils``; the common names are re-exported here.
"""

from mnist_mlp.layers import (
                   Dropout,
                   Gelu,
                   Layer,
                   Linear,
                   Relu,
                   Selu,
                   Sigmoid,
                   Softmax,
                   Swish,
)
from mnist_mlp.loss import (
                   CrossEntropyLoss,
                   EuclideanLoss,
                   FocalLoss,
                   HingeLoss,
                   MSELoss,
                   SoftmaxCrossEntropyLoss,
)
from mnist_mlp.network import Network
from mnist_mlp.solve_net import data_iterator, test_net, train_net
from mnist_mlp.utils import LOG_INFO, calculate_acc, onehot_encoding, set_seed

__version__ = "0.1.0"

__all__ = [
    "Layer", "Linear", "Relu", "Sigmoid", "Selu", "Swish", "Gelu", "Softmax", "Dropout",
    "MSELoss", "EuclideanLoss", "SoftmaxCrossEntropyLoss", "CrossEntropyLoss", "HingeLoss",
    "FocalLoss", "Network", "data_iterator", "train_net", "test_net", "LOG_INFO",
    "calculate_acc", "onehot_encoding", "set_seed",
]
