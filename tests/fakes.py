"""Small synthetic stand-ins for MNIST, shared by the study and report tests."""

import numpy as np


def fake_mnist(seed=0, n_train=1000, n_test=200):
    """Ten random 784-pixel prototypes, each sample one of them with 10% of pixels flipped."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, 784)) < 0.2).astype(np.float32)

    def sample(n):
        labels = np.arange(n) % 10
        flips = rng.random((n, 784)) < 0.1
        return np.abs(prototypes[labels] - flips).astype(np.float32), labels.astype(np.int64)

    train_x, train_y = sample(n_train)
    test_x, test_y = sample(n_test)
    return train_x, test_x, train_y, test_y
