# ---
# title: backward() on a scalar
# ---

# %% [markdown]
# # 02 · backward() from a scalar
#
# `backward()` starts at a single number and walks the graph from the top down to the
# leaves, applying the chain rule at every node. The result lands in the leaves' `.grad`.
#
# We use fixed values this time, so the class can check the answer by hand.

# %%
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x + 2
z = (y * y * 2).mean()
z

# %% [markdown]
# **Predict:** what is `x.grad` before any backward? (Nothing has been computed yet.)

# %%
print(x.grad)

# %% [markdown]
# z = ⅓ · Σᵢ 2(xᵢ + 2)², so ∂z/∂xᵢ = 4/3 · (xᵢ + 2).
#
# **Predict** the three numbers, then run. Use the stepper to watch the order:
# `MeanBackward0` first, then the two `MulBackward0` nodes, then `AddBackward0`, and last
# the `AccumulateGrad` node that writes `x.grad`.

# %%
z.backward()
print(x.grad)

# %%
print("by hand:", 4 * (x.detach() + 2) / 3)

# %% [markdown]
# Only leaves keep their gradient. `y` is an intermediate tensor: its gradient passed through
# but was not stored. Ask for it with `retain_grad()` **before** the backward.

# %%
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x + 2
y.retain_grad()
z = (y * y * 2).mean()
z.backward()
print("dz/dy =", y.grad)
print("dz/dx =", x.grad)
