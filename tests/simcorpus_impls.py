# ruff: noqa: ISC004  (implementations are written as implicitly joined string lines)
"""Test data for the similarity tool: a seed-like template and independent implementations.

``TEMPLATE`` is a handout in the seed's form: ``codes/layers.py`` and
``codes/loss.py`` with ``# TODO START`` / ``# TODO END`` blocks (Relu and Sigmoid
given, as the seed says), plus files the students leave alone or edit.

``IMPLS[class_name]`` lists independent ways to fill one class's two blocks,
written the way different students write them: vectorised or with loops, with
``np.where`` or boolean masks, caching the input or the output, with or without
a module-level helper (``HELPERS``), the tanh of GeLU from ``np.tanh``, from
``exp`` as the seed's hint writes it, or through a sigmoid. They are what honest
independent solutions share; the disguises in :mod:`simcorpus` are what copies do.
"""

LAYERS = """\
import numpy as np


class Layer(object):
    def __init__(self, name, trainable=False):
        self.name = name
        self.trainable = trainable
        self._saved_tensor = None

    def forward(self, input):
        pass

    def backward(self, grad_output):
        pass

    def update(self, config):
        pass

    def _saved_for_backward(self, tensor):
        \'\'\'The intermediate results computed during forward stage
        can be saved and reused for backward, for saving computation\'\'\'

        self._saved_tensor = tensor


class Relu(Layer):
    def __init__(self, name):
        super(Relu, self).__init__(name)

    def forward(self, input):
        self._saved_for_backward(input)
        return np.maximum(0, input)

    def backward(self, grad_output):
        input = self._saved_tensor
        return grad_output * (input > 0)


class Sigmoid(Layer):
    def __init__(self, name):
        super(Sigmoid, self).__init__(name)

    def forward(self, input):
        output = 1 / (1 + np.exp(-input))
        self._saved_for_backward(output)
        return output

    def backward(self, grad_output):
        output = self._saved_tensor
        return grad_output * output * (1 - output)

{Selu}
{Swish}
{Gelu}
{Linear}"""

_ACTIVATION = """
class {name}(Layer):
    def __init__(self, name):
        super({name}, self).__init__(name)

    def forward(self, input):
{forward}
    def backward(self, grad_output):
{backward}"""

_LINEAR = """
class Linear(Layer):
    def __init__(self, name, in_num, out_num, init_std):
        super(Linear, self).__init__(name, trainable=True)
        self.in_num = in_num
        self.out_num = out_num
        self.W = np.random.randn(in_num, out_num) * init_std
        self.b = np.zeros(out_num)

        self.grad_W = np.zeros((in_num, out_num))
        self.grad_b = np.zeros(out_num)

        self.diff_W = np.zeros((in_num, out_num))
        self.diff_b = np.zeros(out_num)

    def forward(self, input):
{forward}
    def backward(self, grad_output):
{backward}
    def update(self, config):
        mm = config['momentum']
        lr = config['learning_rate']
        wd = config['weight_decay']

        self.diff_W = mm * self.diff_W + (self.grad_W + wd * self.W)
        self.W = self.W - lr * self.diff_W

        self.diff_b = mm * self.diff_b + (self.grad_b + wd * self.b)
        self.b = self.b - lr * self.diff_b
"""

LOSS = """\
from __future__ import division
import numpy as np

{MSELoss}
{SoftmaxCrossEntropyLoss}
{HingeLoss}
{FocalLoss}"""

_LOSS_CLASS = """
class {name}(object):
    def __init__(self, name{extra_args}):
        self.name = name{extra_init}

    def forward(self, input, target):
{forward}
    def backward(self, input, target):
{backward}"""

_LOSS_EXTRA = {
    "MSELoss": ("", ""),
    "SoftmaxCrossEntropyLoss": ("", ""),
    "HingeLoss": (", margin=5", "\n        self.margin = margin"),
    "FocalLoss": (
        ", alpha=None, gamma=2.0",
        "\n        if alpha is None:\n            self.alpha = [0.1 for _ in range(10)]"
        "\n        self.gamma = gamma",
    ),
}

EMPTY_BLOCK = "'''Your codes here'''\npass"

RUN_MLP = """\
from network import Network
from utils import LOG_INFO
from layers import Selu, Swish, Linear, Gelu
from loss import MSELoss, SoftmaxCrossEntropyLoss, HingeLoss
from solve_net import train_net, test_net
from load_data import load_mnist_2d


train_data, test_data, train_label, test_label = load_mnist_2d('data')

# Your model defintion here
# You should explore different model architecture
{model}

# Training configuration
# You should adjust these hyperparameters
config = {{
    'learning_rate': {lr},
    'weight_decay': 0.0,
    'momentum': {mm},
    'batch_size': 100,
    'max_epoch': {epochs},
    'disp_freq': 50,
    'test_epoch': 5
}}


for epoch in range(config['max_epoch']):
    LOG_INFO('Training @ %d epoch...' % (epoch))
    train_net(model, loss, config, train_data, train_label, config['batch_size'], config['disp_freq'])

    if epoch % config['test_epoch'] == 0:
        LOG_INFO('Testing @ %d epoch...' % (epoch))
        test_net(model, loss, test_data, test_label, config['batch_size'])
"""

TEMPLATE_MODEL = (
    "model = Network()\nmodel.add(Linear('fc1', 784, 10, 0.01))\n\nloss = MSELoss(name='loss')"
)

# What students put in place of the template's one-layer model.
MODELS = [
    "model = Network()\nmodel.add(Linear('fc1', 784, {h}, 0.01))\nmodel.add({act}('a1'))\n"
    "model.add(Linear('fc2', {h}, 10, 0.01))\n\nloss = {loss}(name='loss')",
    "model = Network()\nmodel.add(Linear('fc1', 784, {h}, 0.01))\nmodel.add({act}('a1'))\n"
    "model.add(Linear('fc2', {h}, {h2}, 0.01))\nmodel.add({act}('a2'))\n"
    "model.add(Linear('fc3', {h2}, 10, 0.01))\n\nloss = {loss}(name='loss')",
    "def build(hidden, act):\n    net = Network()\n    net.add(Linear('fc1', 784, hidden, 0.01))\n"
    "    net.add(act('a1'))\n    net.add(Linear('fc2', hidden, 10, 0.01))\n    return net\n\n\n"
    "model = build({h}, {act})\nloss = {loss}(name='loss')",
    "sizes = [784, {h}, {h2}, 10]\nmodel = Network()\nfor i in range(len(sizes) - 1):\n"
    "    model.add(Linear('fc%d' % i, sizes[i], sizes[i + 1], 0.01))\n"
    "    if i < len(sizes) - 2:\n        model.add({act}('act%d' % i))\nloss = {loss}(name='loss')",
]

NETWORK = """\
class Network(object):
    def __init__(self):
        self.layer_list = []
        self.params = []
        self.num_layers = 0

    def add(self, layer):
        self.layer_list.append(layer)
        self.num_layers += 1

    def forward(self, input):
        output = input
        for i in range(self.num_layers):
            output = self.layer_list[i].forward(output)

        return output

    def backward(self, grad_output):
        grad_input = grad_output
        for i in range(self.num_layers - 1, -1, -1):
            grad_input = self.layer_list[i].backward(grad_input)

    def update(self, config):
        for i in range(self.num_layers):
            if self.layer_list[i].trainable:
                self.layer_list[i].update(config)
"""

UTILS = """\
from __future__ import print_function
from datetime import datetime


def onehot_encoding(label, max_num_class):
    encoding = np.eye(max_num_class)
    encoding = encoding[label]
    return encoding


def calculate_acc(output, label):
    correct = np.sum(np.argmax(output, axis=1) == label)
    return correct / len(label)


def LOG_INFO(msg):
    now = datetime.now()
    display_now = str(now).split(' ')[1][:-3]
    print(display_now + ' ' + msg)
"""

ACTIVATIONS = ("Selu", "Swish", "Gelu")
LOSSES = ("MSELoss", "SoftmaxCrossEntropyLoss", "HingeLoss", "FocalLoss")
CLASSES = ACTIVATIONS + ("Linear",) + LOSSES

HELPERS = {
    "sigmoid": "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))",
    "gelu": "def gelu(x):\n    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))",
    "softmax": "def softmax(x):\n    shifted = x - x.max(axis=1, keepdims=True)\n"
    "    e = np.exp(shifted)\n    return e / e.sum(axis=1, keepdims=True)",
    "focal_value": "def focal_value(x, t, alpha, gamma):\n"
    "    p = np.exp(x - x.max(axis=1, keepdims=True))\n    p = p / p.sum(axis=1, keepdims=True)\n"
    "    w = alpha * t + (1 - alpha) * (1 - t)\n"
    "    return -np.mean(np.sum(w * (1 - p) ** gamma * t * np.log(p), axis=1))",
}
HELPER_FILE = {"sigmoid": "layers", "gelu": "layers", "softmax": "loss", "focal_value": "loss"}

# Each entry: (forward body, backward body, helpers it calls). Bodies are unindented.
IMPLS = {
    "Linear": [
        ("self._saved_for_backward(input)\nreturn np.dot(input, self.W) + self.b",
         "x = self._saved_tensor\nself.grad_W = np.dot(x.T, grad_output)\n"
         "self.grad_b = np.sum(grad_output, axis=0)\nreturn np.dot(grad_output, self.W.T)", ()),
        ("self._saved_for_backward(input)\noutput = input @ self.W\noutput += self.b\nreturn output",
         "inp = self._saved_tensor\nself.grad_W = inp.T @ grad_output\n"
         "self.grad_b = grad_output.sum(axis=0)\ngrad_input = grad_output @ self.W.T\n"
         "return grad_input", ()),
        ("self._saved_for_backward(input)\nn = input.shape[0]\nout = np.zeros((n, self.out_num))\n"
         "for i in range(n):\n    out[i] = input[i].dot(self.W) + self.b\nreturn out",
         "x = self._saved_tensor\nself.grad_W = np.zeros_like(self.W)\n"
         "self.grad_b = np.zeros_like(self.b)\nfor i in range(x.shape[0]):\n"
         "    self.grad_W += np.outer(x[i], grad_output[i])\n    self.grad_b += grad_output[i]\n"
         "return grad_output.dot(self.W.T)", ()),
        ("self.input = input\nreturn np.matmul(input, self.W) + self.b.reshape(1, -1)",
         "self.grad_W = np.matmul(self.input.T, grad_output)\n"
         "self.grad_b = np.mean(grad_output, axis=0) * grad_output.shape[0]\n"
         "return np.matmul(grad_output, np.transpose(self.W))", ()),
        ("self._saved_for_backward(input.copy())\n"
         "return np.einsum('ij,jk->ik', input, self.W) + self.b",
         "saved = self._saved_tensor\nself.grad_W[:] = np.einsum('ni,nj->ij', saved, grad_output)\n"
         "self.grad_b[:] = np.einsum('nj->j', grad_output)\n"
         "return np.einsum('nj,ij->ni', grad_output, self.W)", ()),
    ],
    "Selu": [
        ("lam, alpha = 1.0507, 1.67326\nself._saved_for_backward(input)\n"
         "return lam * np.where(input > 0, input, alpha * (np.exp(input) - 1))",
         "lam, alpha = 1.0507, 1.67326\nx = self._saved_tensor\n"
         "return grad_output * lam * np.where(x > 0, 1, alpha * np.exp(x))", ()),
        ("self._saved_for_backward(input)\nout = input.copy()\nneg = input <= 0\n"
         "out[neg] = 1.67326 * (np.exp(input[neg]) - 1)\nreturn 1.0507 * out",
         "x = self._saved_tensor\ngrad = np.ones_like(x)\nneg = x <= 0\n"
         "grad[neg] = 1.67326 * np.exp(x[neg])\nreturn 1.0507 * grad * grad_output", ()),
        ("self._saved_for_backward(input)\nresult = np.zeros_like(input)\n"
         "for i in range(input.shape[0]):\n    for j in range(input.shape[1]):\n"
         "        v = input[i, j]\n        if v > 0:\n            result[i, j] = 1.0507 * v\n"
         "        else:\n            result[i, j] = 1.0507 * 1.67326 * (np.exp(v) - 1)\nreturn result",
         "x = self._saved_tensor\nd = np.zeros_like(x)\nfor i in range(x.shape[0]):\n"
         "    for j in range(x.shape[1]):\n        if x[i, j] > 0:\n            d[i, j] = 1.0507\n"
         "        else:\n            d[i, j] = 1.0507 * 1.67326 * np.exp(x[i, j])\n"
         "return grad_output * d", ()),
        ("SCALE = 1.0507\nALPHA = 1.67326\npos = np.maximum(input, 0)\nneg = np.minimum(input, 0)\n"
         "self._saved_for_backward(input)\nreturn SCALE * (pos + ALPHA * np.expm1(neg))",
         "SCALE = 1.0507\nALPHA = 1.67326\nx = self._saved_tensor\n"
         "slope = np.where(x > 0, SCALE, SCALE * ALPHA * np.exp(np.minimum(x, 0)))\n"
         "return slope * grad_output", ()),
        ("self._saved_for_backward(input)\nmask = (input > 0).astype(float)\n"
         "return 1.0507 * (mask * input + (1 - mask) * 1.67326 * (np.exp(np.minimum(input, 0)) - 1))",
         "u = self._saved_tensor\nmask = (u > 0).astype(float)\n"
         "deriv = mask + (1 - mask) * 1.67326 * np.exp(np.minimum(u, 0))\n"
         "return grad_output * 1.0507 * deriv", ()),
    ],
    "Swish": [
        ("sig = 1 / (1 + np.exp(-input))\nself._saved_for_backward(input)\nreturn input * sig",
         "x = self._saved_tensor\nsig = 1 / (1 + np.exp(-x))\n"
         "return grad_output * (sig + x * sig * (1 - sig))", ()),
        ("s = 1.0 / (1.0 + np.exp(-input))\nout = input * s\n"
         "self._saved_for_backward((input, s, out))\nreturn out",
         "x, s, out = self._saved_tensor\nreturn grad_output * (out + s * (1 - out))", ()),
        ("self._saved_for_backward(input)\nreturn input * sigmoid(input)",
         "x = self._saved_tensor\ns = sigmoid(x)\nds = s * (1 - s)\nreturn grad_output * (s + x * ds)",
         ("sigmoid",)),
        ("s = np.exp(-np.logaddexp(0, -input))\nself._saved_for_backward([input, s])\nreturn input * s",
         "inp, s = self._saved_tensor\ngrad = s * (1 + inp * (1 - s))\nreturn grad * grad_output", ()),
        ("self._saved_for_backward(input)\nhalf = 0.5 * input\nreturn half * (1 + np.tanh(half))",
         "x = self._saved_tensor\nt = np.tanh(0.5 * x)\nsig = 0.5 * (1 + t)\n"
         "derivative = sig * (1 + x * (1 - sig))\nreturn grad_output * derivative", ()),
    ],
    "Gelu": [
        ("self._saved_for_backward(input)\nc = np.sqrt(2 / np.pi)\n"
         "return 0.5 * input * (1 + np.tanh(c * (input + 0.044715 * input ** 3)))",
         "x = self._saved_tensor\nc = np.sqrt(2 / np.pi)\nt = np.tanh(c * (x + 0.044715 * x ** 3))\n"
         "dt = (1 - t ** 2) * c * (1 + 3 * 0.044715 * x ** 2)\n"
         "return grad_output * (0.5 * (1 + t) + 0.5 * x * dt)", ()),
        ("inner = np.sqrt(2.0 / np.pi) * (input + 0.044715 * np.power(input, 3))\nth = np.tanh(inner)\n"
         "self._saved_for_backward((input, th))\nreturn 0.5 * input * (1.0 + th)",
         "x, th = self._saved_tensor\nsech2 = 1.0 - th * th\n"
         "inner_d = np.sqrt(2.0 / np.pi) * (1.0 + 0.134145 * x * x)\n"
         "local = 0.5 * (1.0 + th) + 0.5 * x * sech2 * inner_d\nreturn local * grad_output", ()),
        ("self._saved_for_backward(input)\nreturn gelu(input)",
         "x = self._saved_tensor\ndelta = 1e-5\n"
         "slope = (gelu(x + delta) - gelu(x - delta)) / (2 * delta)\nreturn grad_output * slope",
         ("gelu",)),
        ("self._saved_for_backward(input)\nz = 0.7978845608 * (input + 0.044715 * input * input * input)\n"
         "tanh = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))\nreturn 0.5 * input * (1 + tanh)",
         "x = self._saved_tensor\nz = 0.7978845608 * (x + 0.044715 * x * x * x)\n"
         "tanh = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))\n"
         "dz = 0.7978845608 * (1 + 3 * 0.044715 * x * x)\n"
         "grad = 0.5 * (1 + tanh) + 0.5 * x * (1 - tanh * tanh) * dz\nreturn grad_output * grad", ()),
        ("z = 2 * np.sqrt(2 / np.pi) * (input + 0.044715 * input ** 3)\ns = 1 / (1 + np.exp(-z))\n"
         "self._saved_for_backward((input, s))\nreturn input * s",
         "x, s = self._saved_tensor\ndz = 2 * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x ** 2)\n"
         "return grad_output * (s + x * s * (1 - s) * dz)", ()),
    ],
    "MSELoss": [
        ("return np.sum((target - input) ** 2) / input.shape[0]",
         "return 2 * (input - target) / input.shape[0]", ()),
        ("diff = input - target\nreturn np.mean(np.sum(diff * diff, axis=1))",
         "batch = input.shape[0]\nreturn (input - target) * 2.0 / batch", ()),
        ("total = 0.0\nfor n in range(input.shape[0]):\n"
         "    total += np.linalg.norm(target[n] - input[n]) ** 2\nreturn total / input.shape[0]",
         "grad = np.zeros_like(input)\nN = input.shape[0]\nfor n in range(N):\n"
         "    grad[n] = 2 * (input[n] - target[n]) / N\nreturn grad", ()),
        ("self.n = len(input)\nsq = np.square(np.subtract(target, input))\nreturn sq.sum() / self.n",
         "return np.subtract(input, target) * (2 / len(input))", ()),
    ],
    "SoftmaxCrossEntropyLoss": [
        ("exp = np.exp(input - np.max(input, axis=1, keepdims=True))\n"
         "prob = exp / np.sum(exp, axis=1, keepdims=True)\n"
         "return -np.sum(target * np.log(prob + 1e-12)) / input.shape[0]",
         "exp = np.exp(input - np.max(input, axis=1, keepdims=True))\n"
         "prob = exp / np.sum(exp, axis=1, keepdims=True)\nreturn (prob - target) / input.shape[0]", ()),
        ("self.prob = softmax(input)\nloss = -np.sum(target * np.log(self.prob), axis=1)\n"
         "return np.mean(loss)",
         "return (softmax(input) - target) / len(input)", ("softmax",)),
        ("m = input.max(axis=1, keepdims=True)\n"
         "logsumexp = m + np.log(np.exp(input - m).sum(axis=1, keepdims=True))\n"
         "log_prob = input - logsumexp\nreturn -(target * log_prob).sum() / input.shape[0]",
         "m = input.max(axis=1, keepdims=True)\ne = np.exp(input - m)\np = e / e.sum(axis=1, keepdims=True)\n"
         "return (p - target) / input.shape[0]", ()),
        ("N = input.shape[0]\nloss = 0.0\nfor n in range(N):\n    row = input[n] - np.max(input[n])\n"
         "    probs = np.exp(row) / np.sum(np.exp(row))\n    loss -= np.sum(target[n] * np.log(probs))\n"
         "return loss / N",
         "N = input.shape[0]\ngrad = np.zeros_like(input)\nfor n in range(N):\n"
         "    row = input[n] - np.max(input[n])\n    probs = np.exp(row) / np.sum(np.exp(row))\n"
         "    grad[n] = (probs - target[n]) / N\nreturn grad", ()),
        ("h = np.exp(input)\nh /= h.sum(axis=1)[:, None]\nself._h = h\n"
         "return float(np.mean(-np.log(h[target.astype(bool)])))",
         "h = np.exp(input)\nh = h / h.sum(axis=1)[:, None]\nreturn (h - target) / target.shape[0]", ()),
    ],
    "HingeLoss": [
        ("t = np.argmax(target, axis=1)\nN = input.shape[0]\ncorrect = input[np.arange(N), t].reshape(-1, 1)\n"
         "margins = np.maximum(0, self.margin - correct + input)\nmargins[np.arange(N), t] = 0\n"
         "return np.sum(margins) / N",
         "t = np.argmax(target, axis=1)\nN = input.shape[0]\ncorrect = input[np.arange(N), t].reshape(-1, 1)\n"
         "mask = (self.margin - correct + input > 0).astype(float)\nmask[np.arange(N), t] = 0\n"
         "mask[np.arange(N), t] = -np.sum(mask, axis=1)\nreturn mask / N", ()),
        ("correct = np.sum(input * target, axis=1, keepdims=True)\n"
         "h = np.maximum(0.0, self.margin - correct + input) * (1 - target)\nreturn h.sum(axis=1).mean()",
         "correct = np.sum(input * target, axis=1, keepdims=True)\n"
         "active = ((self.margin - correct + input) > 0) * (1 - target)\n"
         "grad = active - target * active.sum(axis=1, keepdims=True)\nreturn grad / input.shape[0]", ()),
        ("N, K = input.shape\ntotal = 0.0\nfor n in range(N):\n    label = int(np.argmax(target[n]))\n"
         "    for k in range(K):\n        if k != label:\n"
         "            total += max(0.0, self.margin - input[n, label] + input[n, k])\nreturn total / N",
         "N, K = input.shape\ngrad = np.zeros_like(input)\nfor n in range(N):\n"
         "    label = int(np.argmax(target[n]))\n    for k in range(K):\n"
         "        if k != label and self.margin - input[n, label] + input[n, k] > 0:\n"
         "            grad[n, k] += 1\n            grad[n, label] -= 1\nreturn grad / N", ()),
        ("labels = target.argmax(axis=1)\nidx = np.arange(len(labels))\n"
         "scores = input[idx, labels][:, np.newaxis]\n"
         "self.margins = np.clip(self.margin - scores + input, 0, None)\nself.margins[idx, labels] = 0\n"
         "return self.margins.sum() / len(labels)",
         "labels = target.argmax(axis=1)\nidx = np.arange(len(labels))\n"
         "ind = (self.margins > 0).astype(input.dtype)\nind[idx, labels] = -ind.sum(axis=1)\n"
         "return ind / len(labels)", ()),
    ],
    "FocalLoss": [
        ("e = np.exp(input - input.max(axis=1, keepdims=True))\np = e / e.sum(axis=1, keepdims=True)\n"
         "alpha = np.array(self.alpha)\nweight = alpha * target + (1 - alpha) * (1 - target)\n"
         "loss = -np.sum(weight * (1 - p) ** self.gamma * target * np.log(p + 1e-12), axis=1)\n"
         "return loss.mean()",
         "e = np.exp(input - input.max(axis=1, keepdims=True))\np = e / e.sum(axis=1, keepdims=True)\n"
         "alpha = np.array(self.alpha)\npt = np.sum(p * target, axis=1, keepdims=True)\n"
         "at = np.sum(alpha * target, axis=1, keepdims=True)\ng = self.gamma\n"
         "dl_dpt = at * (g * (1 - pt) ** (g - 1) * np.log(pt) - (1 - pt) ** g / pt)\n"
         "dpt_dx = pt * (target - p)\nreturn dl_dpt * dpt_dx / input.shape[0]", ()),
        ("return focal_value(input, target, np.array(self.alpha), self.gamma)",
         "eps = 1e-6\ngrad = np.zeros_like(input)\nfor idx in np.ndindex(*input.shape):\n"
         "    plus = input.copy()\n    minus = input.copy()\n    plus[idx] += eps\n    minus[idx] -= eps\n"
         "    up = focal_value(plus, target, np.array(self.alpha), self.gamma)\n"
         "    down = focal_value(minus, target, np.array(self.alpha), self.gamma)\n"
         "    grad[idx] = (up - down) / (2 * eps)\nreturn grad", ("focal_value",)),
        ("p = softmax(input)\nself.p = p\npt = (p * target).sum(axis=1)\n"
         "at = (np.asarray(self.alpha) * target).sum(axis=1)\n"
         "return float(np.mean(-at * (1 - pt) ** self.gamma * np.log(pt)))",
         "p = self.p\npt = (p * target).sum(axis=1)[:, None]\n"
         "at = (np.asarray(self.alpha) * target).sum(axis=1)[:, None]\ng = self.gamma\n"
         "factor = at * (1 - pt) ** (g - 1) * (g * pt * np.log(pt) - (1 - pt))\n"
         "return factor * (target - p) / len(p)", ("softmax",)),
    ],
}  # fmt: skip


def _indent(body: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line + "\n" if line.strip() else "\n" for line in body.split("\n"))


def block(body: str) -> str:
    """A method body as the handout lays it out: the TODO markers around the code."""
    return _indent(f"# TODO START\n{body}\n# TODO END", 8)


def render_layers(bodies: dict[str, tuple[str, str]]) -> str:
    """layers.py with each class's (forward, backward) block bodies filled in."""
    parts = {}
    for name in ACTIVATIONS:
        fwd, bwd = bodies.get(name, (EMPTY_BLOCK, EMPTY_BLOCK))
        parts[name] = _ACTIVATION.format(name=name, forward=block(fwd), backward=block(bwd))
    fwd, bwd = bodies.get("Linear", (EMPTY_BLOCK, EMPTY_BLOCK))
    parts["Linear"] = _LINEAR.format(forward=block(fwd), backward=block(bwd))
    return LAYERS.format(**parts)


def render_loss(bodies: dict[str, tuple[str, str]]) -> str:
    """loss.py with each class's (forward, backward) block bodies filled in."""
    parts = {}
    for name in LOSSES:
        fwd, bwd = bodies.get(name, (EMPTY_BLOCK, EMPTY_BLOCK))
        args, init = _LOSS_EXTRA[name]
        parts[name] = _LOSS_CLASS.format(
            name=name, extra_args=args, extra_init=init, forward=block(fwd), backward=block(bwd)
        )
    return LOSS.format(**parts)


def template_files() -> dict[str, str]:
    """The handout's ``codes/`` files, relative paths -> text."""
    return {
        "codes/layers.py": render_layers({}),
        "codes/loss.py": render_loss({}),
        "codes/network.py": NETWORK,
        "codes/utils.py": UTILS,
        "codes/run_mlp.py": RUN_MLP.format(model=TEMPLATE_MODEL, lr="0.0", mm="0.0", epochs=100),
    }
