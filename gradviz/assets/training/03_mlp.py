# ---
# title: (c) A small MLP on a toy 2-D data set
# iterations: 300
# lr: 0.02
# speed: 60
# log_loss: true
# ---

# %% [markdown]
# the gradient norms of both layers: bounded when zeroed, growing without

# %%
# Two half-moons in 2-D, a 2-16-1 MLP, Adam.
rng = np.random.default_rng(0)
t = rng.uniform(0, np.pi, 64)
upper = np.stack([np.cos(t), np.sin(t)], 1)
lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
points = np.concatenate([upper, lower])
points += 0.1 * rng.normal(size=points.shape)
X = torch.tensor(points, dtype=torch.float32)
labels = np.repeat([[1.0], [-1.0]], 64, axis=0)
Y = torch.tensor(labels, dtype=torch.float32)

torch.manual_seed(0)
hidden = torch.nn.Linear(2, 16)
output = torch.nn.Linear(16, 1)
loss_fn = torch.nn.MSELoss()
params = [*hidden.parameters(), *output.parameters()]
optimizer = torch.optim.Adam(params, lr=lr)

for step in range(iterations):
    optimizer.zero_grad()
    prediction = output(torch.tanh(hidden(X)))
    loss = loss_fn(prediction, Y)
    loss.backward()
    optimizer.step()
