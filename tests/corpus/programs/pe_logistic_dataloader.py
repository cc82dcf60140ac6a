# Imitates patrickloeber/pytorchTutorial 08_logistic_regression.py and 09_dataloader.py (made-up data instead of sklearn/wine.csv)
import math

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

rng = np.random.RandomState(1234)
X_numpy = rng.randn(120, 4)
y_numpy = (X_numpy @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(np.float64)
n_samples, n_features = X_numpy.shape
X_train = torch.from_numpy(X_numpy[:100].astype(np.float32))
X_test = torch.from_numpy(X_numpy[100:].astype(np.float32))
y_train = torch.from_numpy(y_numpy[:100].astype(np.float32)).view(-1, 1)
y_test = torch.from_numpy(y_numpy[100:].astype(np.float32)).view(-1, 1)
mean, std = X_train.mean(0), X_train.std(0)
X_train = (X_train - mean) / std
X_test = (X_test - mean) / std


class Model(nn.Module):
    def __init__(self, n_input_features):
        super(Model, self).__init__()
        self.linear = nn.Linear(n_input_features, 1)

    def forward(self, x):
        y_pred = torch.sigmoid(self.linear(x))
        return y_pred


torch.manual_seed(0)
model = Model(n_features)
num_epochs = 100
learning_rate = 0.01
criterion = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
for epoch in range(num_epochs):
    y_pred = model(X_train)
    loss = criterion(y_pred, y_train)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    if (epoch + 1) % 20 == 0:
        print(f'epoch: {epoch+1}, loss = {loss.item():.4f}')

with torch.no_grad():
    y_predicted = model(X_test)
    y_predicted_cls = y_predicted.round()
    acc = y_predicted_cls.eq(y_test).sum() / float(y_test.shape[0])
    print(f'accuracy: {acc.item():.4f}')


class WineDataset(Dataset):
    def __init__(self):
        xy = np.round(rng.rand(30, 5) * 10, 2).astype(np.float32)
        xy[:, 0] = rng.randint(1, 4, 30)
        self.n_samples = xy.shape[0]
        self.x_data = torch.from_numpy(xy[:, 1:])
        self.y_data = torch.from_numpy(xy[:, [0]])

    def __getitem__(self, index):
        return self.x_data[index], self.y_data[index]

    def __len__(self):
        return self.n_samples


dataset = WineDataset()
first_data = dataset[0]
features, labels = first_data
print(features, labels)
train_loader = DataLoader(dataset=dataset, batch_size=4, shuffle=True, num_workers=0)
dataiter = iter(train_loader)
data = next(dataiter)
features, labels = data
print(features, labels)

num_epochs = 2
total_samples = len(dataset)
n_iterations = math.ceil(total_samples / 4)
print(total_samples, n_iterations)
for epoch in range(num_epochs):
    for i, (inputs, labels) in enumerate(train_loader):
        if (i + 1) % 4 == 0:
            print(f'Epoch: {epoch+1}/{num_epochs}, Step {i+1}/{n_iterations}| Inputs {inputs.shape} | Labels {labels.shape}')
