# Imitates karpathy/micrograd demo.ipynb (MLP on two moons, SVM max-margin loss with L2), written with torch tensors
import math

import torch

torch.manual_seed(1337)
n = 50
t = torch.rand(n) * math.pi
outer = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
inner = torch.stack([1 - torch.cos(t), 1 - torch.sin(t) - 0.5], dim=1)
X = torch.cat([outer, inner]) + 0.1 * torch.randn(2 * n, 2)
y = torch.cat([torch.ones(n), -torch.ones(n)])
print(X.shape, y[:3], y[-3:])


class MLP(torch.nn.Module):
    def __init__(self, nin, nouts):
        super().__init__()
        sz = [nin] + nouts
        self.layers = torch.nn.ModuleList([torch.nn.Linear(sz[i], sz[i + 1]) for i in range(len(nouts))])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i != len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


model = MLP(2, [16, 16, 1])
print(model)
print("number of parameters", sum(p.numel() for p in model.parameters()))


def loss(batch_size=None):
    if batch_size is None:
        Xb, yb = X, y
    else:
        ri = torch.randperm(X.shape[0])[:batch_size]
        Xb, yb = X[ri], y[ri]
    scores = model(Xb).squeeze(1)
    losses = (1 + -yb * scores).relu()
    data_loss = losses.sum() * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei > 0) for yi, scorei in zip(yb.tolist(), scores.tolist())]
    return total_loss, sum(accuracy) / len(accuracy)


total_loss, acc = loss()
print(total_loss, acc)

for k in range(20):
    total_loss, acc = loss()
    model.zero_grad()
    total_loss.backward()
    learning_rate = 1.0 - 0.9 * k / 100
    with torch.no_grad():
        for p in model.parameters():
            p -= learning_rate * p.grad
    if k % 5 == 0:
        print(f"step {k} loss {total_loss.data}, accuracy {acc*100}%")
print(loss(batch_size=16)[0].item() > 0)
