"""The seed's entry script: build an MLP layer by layer, train it, test it.

    python run_mlp.py [--epochs N] [--seed S] [--data-dir DIR]

It is written the way the seed's ``run_mlp.py`` is, against the same names, so it
doubles as an example of seed-style code running on ``mnist_mlp``. The test set is
only evaluated and logged: nothing here looks at it to make a decision.
"""

import argparse
import math
import sys

from mnist_mlp.errors import MnistMlpError
from mnist_mlp.layers import Linear, Relu
from mnist_mlp.load_data import ensure_dataset, load_mnist_2d
from mnist_mlp.loss import SoftmaxCrossEntropyLoss
from mnist_mlp.network import Network
from mnist_mlp.solve_net import test_net, train_net
from mnist_mlp.utils import LOG_INFO, set_seed

config = {
    "learning_rate": 0.1,
    "weight_decay": 0.0,
    "momentum": 0.9,
    "batch_size": 100,
    "max_epoch": 15,
    "disp_freq": 100,
    "test_epoch": 5,
}


def build_model():
    model = Network()
    model.add(Linear("fc1", 784, 512, 0.05))  # std ~ sqrt(2 / 784), He's scale for ReLU
    model.add(Relu("relu1"))
    model.add(Linear("fc2", 512, 10, 0.05))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=config["max_epoch"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be a positive integer; got {args.epochs}")
    config["max_epoch"] = args.epochs

    ensure_dataset("mnist", args.data_dir)
    train_data, test_data, train_label, test_label = load_mnist_2d(args.data_dir)
    set_seed(args.seed)  # initial weights and batch order: same seed, same numbers
    model = build_model()
    loss = SoftmaxCrossEntropyLoss(name="loss")

    base_lr = config["learning_rate"]
    for epoch in range(config["max_epoch"]):
        # Cosine annealing from base_lr towards 0: large steps early, fine ones at the end.
        config["learning_rate"] = base_lr * 0.5 * (1 + math.cos(math.pi * epoch / config["max_epoch"]))
        LOG_INFO(f"Training @ {epoch} epoch, learning rate {config['learning_rate']:.4f}...")
        train_net(model, loss, config, train_data, train_label, config["batch_size"],
                  config["disp_freq"])
        if epoch % config["test_epoch"] == 0 or epoch == config["max_epoch"] - 1:
            LOG_INFO(f"Testing @ {epoch} epoch...")
            test_net(model, loss, test_data, test_label, config["batch_size"])

    LOG_INFO("Final evaluation")
    train_loss, train_acc = test_net(model, loss, train_data, train_label, config["batch_size"])
    test_loss, test_acc = test_net(model, loss, test_data, test_label, config["batch_size"])
    print(f"Final training set: loss {train_loss:.4f}, accuracy {100 * train_acc:.2f}%")
    print(f"Final test set:     loss {test_loss:.4f}, accuracy {100 * test_acc:.2f}%")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MnistMlpError as exc:
        print(f"run_mlp.py: error: {exc}", file=sys.stderr)
        sys.exit(1)
