# Imitates pytorch/tutorials beginner_source/blitz/autograd_tutorial.py (A Gentle Introduction to torch.autograd)
import torch
from torch import nn, optim

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 5))
data = torch.rand(4, 12)
labels = torch.rand(4, 5)

prediction = model(data)
loss = (prediction - labels).sum()
loss.backward()
optim_ = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
optim_.step()
print(model[0].bias)

a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
Q = 3 * a ** 3 - b ** 2
external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)
print(9 * a ** 2 == a.grad)
print(-2 * b == b.grad)
print(Q)

x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)
a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

for param in model.parameters():
    param.requires_grad = False
model[2] = nn.Linear(8, 10)
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
print(model)
print([p.requires_grad for p in model.parameters()])
