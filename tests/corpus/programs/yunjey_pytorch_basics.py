# Imitates yunjey/pytorch-tutorial tutorials/01-basics/pytorch_basics/main.py (autograd, numpy, input pipeline, save/load)
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)

x = torch.tensor(1., requires_grad=True)
w = torch.tensor(2., requires_grad=True)
b = torch.tensor(3., requires_grad=True)
y = w * x + b
y.backward()
print(x.grad)
print(w.grad)
print(b.grad)

x = torch.randn(10, 3)
y = torch.randn(10, 2)
linear = nn.Linear(3, 2)
print('w: ', linear.weight)
print('b: ', linear.bias)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(linear.parameters(), lr=0.01)
pred = linear(x)
loss = criterion(pred, y)
print('loss: ', loss.item())
loss.backward()
print('dL/dw: ', linear.weight.grad)
print('dL/db: ', linear.bias.grad)
optimizer.step()
pred = linear(x)
loss = criterion(pred, y)
print('loss after 1 step optimization: ', loss.item())

x = np.array([[1, 2], [3, 4]])
y = torch.from_numpy(x)
z = y.numpy()
print(y, z, y.dtype)


class CustomDataset(torch.utils.data.Dataset):
    def __init__(self):
        self.data = torch.arange(20, dtype=torch.float32).reshape(10, 2)

    def __getitem__(self, index):
        return self.data[index], index % 2

    def __len__(self):
        return 10


custom_dataset = CustomDataset()
train_loader = torch.utils.data.DataLoader(dataset=custom_dataset, batch_size=4, shuffle=True)
data_iter = iter(train_loader)
images, labels = next(data_iter)
print(images, labels)
for images, labels in train_loader:
    print(images.size(), labels)

with tempfile.TemporaryDirectory() as tmp:
    torch.save(linear.state_dict(), os.path.join(tmp, 'params.ckpt'))
    linear2 = nn.Linear(3, 2)
    linear2.load_state_dict(torch.load(os.path.join(tmp, 'params.ckpt')))
    print(linear2.weight)
