# ---
# title: The optimizer and zero_grad
# ---

# %% [markdown]
# # 06 · From gradients to learning: the optimizer and zero_grad()
#
# We fit one number `w` so that `w * x` matches `y = 2 * x`. The loss is the mean squared
# error: `SubBackward0`, `PowBackward0` and `MeanBackward0` on top of `MulBackward0`.
#
# **Predict:** which value of `w` makes the loss zero?

# %%
import torch

x = torch.tensor([1.0, 2.0, 3.0, 4.0])
y = 2 * x
w = torch.tensor(0.0, requires_grad=True)

loss = ((w * x - y) ** 2).mean()
print(loss)

# %% [markdown]
# One step of gradient descent by hand: backward, move `w` against the gradient, clear the
# gradient. The update itself must not be tracked, hence `torch.no_grad()` (lesson 04).

# %%
lr = 0.05
for step in range(5):
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
    w.grad.zero_()
    print(f"step {step}: loss {loss.item():.3f}, w {w.item():.3f}")

# %% [markdown]
# An optimizer does the update for you: `optimizer.step()` applies it to every parameter it
# was given, and `optimizer.zero_grad()` clears their gradients.
#
# **Look at** `w.grad` after `zero_grad()`: it is `None`, not zeros (PyTorch 2 sets
# gradients to `None` by default).

# %%
w = torch.tensor(0.0, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=lr)

for step in range(5):
    optimizer.zero_grad()
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    print(f"step {step}: loss {loss.item():.3f}, w {w.item():.3f}")

optimizer.zero_grad()
print(w.grad)

# %% [markdown]
# **Predict:** the same loop without `zero_grad()`. Each step adds the new gradient to all
# the old ones, so the steps keep growing: watch `w` overshoot 2 and swing around it
# instead of settling.

# %%
w = torch.tensor(0.0, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=lr)

for step in range(10):
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    print(f"step {step}: loss {loss.item():.3f}, w {w.item():.3f}, w.grad {w.grad.item():.1f}")
