# Imitates d2l-ai/d2l-en chapter_convolutional-modern/batch-norm.md (Batch Normalization from scratch), PyTorch tab
import torch
from torch import nn


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
    if not torch.is_grad_enabled():
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        assert len(X.shape) in (2, 4)
        if len(X.shape) == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:
            mean = X.mean(dim=(0, 2, 3), keepdim=True)
            var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
        moving_var = (1.0 - momentum) * moving_var + momentum * var
    Y = gamma * X_hat + beta
    return Y, moving_mean.data, moving_var.data


class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims):
        super().__init__()
        if num_dims == 2:
            shape = (1, num_features)
        else:
            shape = (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.moving_mean = torch.zeros(shape)
        self.moving_var = torch.ones(shape)

    def forward(self, X):
        if self.moving_mean.device != X.device:
            self.moving_mean = self.moving_mean.to(X.device)
            self.moving_var = self.moving_var.to(X.device)
        Y, self.moving_mean, self.moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean,
            self.moving_var, eps=1e-5, momentum=0.1)
        return Y


torch.manual_seed(0)
X = torch.randn(4, 3, 5, 5) * 3 + 1
mine = BatchNorm(3, num_dims=4)
theirs = nn.BatchNorm2d(3)
print(theirs)
for _ in range(3):
    a = mine(X)
    b = theirs(X)
print(torch.allclose(a, b, atol=1e-5))
print(mine.moving_mean.reshape(-1))
print(theirs.running_mean)
print(theirs.running_var)
print(theirs.num_batches_tracked)
theirs.eval()
with torch.no_grad():
    print(theirs(X)[0, :, 0, 0])
    print(mine(X)[0, :, 0, 0])

bn1 = nn.BatchNorm1d(6)
print(bn1(torch.randn(5, 6)).mean(0))
print(sorted(bn1.state_dict().keys()))
print(nn.LayerNorm(6)(torch.arange(12.).reshape(2, 6)))
