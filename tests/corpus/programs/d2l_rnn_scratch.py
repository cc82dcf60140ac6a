# Imitates d2l-ai/d2l-en chapter_recurrent-neural-networks/rnn-scratch.md (RNN from scratch), PyTorch tab
import math

import torch
from torch.nn import functional as F

print(F.one_hot(torch.tensor([0, 2]), 28))
X = torch.arange(10).reshape((2, 5))
print(F.one_hot(X.T, 28).shape)


def get_params(vocab_size, num_hiddens):
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return torch.randn(size=shape) * 0.01

    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = torch.zeros(num_hiddens)
    W_hq = normal((num_hiddens, num_outputs))
    b_q = torch.zeros(num_outputs)
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.requires_grad_(True)
    return params


def init_rnn_state(batch_size, num_hiddens):
    return (torch.zeros((batch_size, num_hiddens)),)


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        Y = torch.mm(H, W_hq) + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)


class RNNModelScratch:
    def __init__(self, vocab_size, num_hiddens, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size):
        return self.init_state(batch_size, self.num_hiddens)


torch.manual_seed(0)
num_hiddens = 16
vocab_size = 28
net = RNNModelScratch(vocab_size, num_hiddens, get_params, init_rnn_state, rnn)
state = net.begin_state(X.shape[0])
Y, new_state = net(X, state)
print(Y.shape, len(new_state), new_state[0].shape)


def grad_clipping(net, theta):
    params = net.params
    norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm
    return norm


text = "the time machine by h g wells " * 4
vocab = sorted(set(text))
idx = torch.tensor([vocab.index(c) for c in text])
num_steps = 6
for step in range(10):
    i = (step * 7) % (len(idx) - num_steps - 1)
    X = idx[i:i + num_steps].reshape(1, -1)
    Yt = idx[i + 1:i + num_steps + 1].reshape(1, -1)
    state = net.begin_state(1)
    y_hat, state = net(X, state)
    l = F.cross_entropy(y_hat, Yt.T.reshape(-1))
    for p in net.params:
        p.grad = None
    l.backward()
    norm = grad_clipping(net, 1)
    with torch.no_grad():
        for p in net.params:
            p -= 1.0 * p.grad
    if step % 3 == 0:
        print(f'step {step}, perplexity {math.exp(l.item()):.1f}, grad norm {norm:.4f}')
