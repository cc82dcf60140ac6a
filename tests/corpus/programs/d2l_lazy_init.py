# Imitates d2l-ai/d2l-en chapter_builders-guide/lazy-init.md (Lazy Initialization), PyTorch tab
import torch
from torch import nn

torch.manual_seed(0)
net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
print(net[0].weight)
X = torch.rand(2, 20)
net(X)
print(net[0].weight.shape)
print(net)
print(net(X))
