# ---
# title: (b) Linear regression with optim.SGD
# iterations: 100
# lr: 0.2
# speed: 20
# log_loss: true
# ---

# %% [markdown]
# zeroed: the loss falls below 1e-3; not zeroed: each step adds every past gradient again and
# the parameters swing back and forth

# %%
# Fit y = 2x + 1: one Linear layer, plain SGD.
torch.manual_seed(0)
x = torch.linspace(-1, 1, 32).reshape(32, 1)
y = 2 * x + 1
model = torch.nn.Linear(1, 1)
loss_fn = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=lr)

for epoch in range(iterations):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
