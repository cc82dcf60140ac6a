# ---
# title: Three ways to stop tracking
# ---

# %% [markdown]
# # 04 · Stopping gradient tracking
#
# Sometimes you compute with a tensor but do not want a graph: evaluating a model, updating
# weights, logging. There are three ways:
#
# - `with torch.no_grad():` for a block of code
# - `x.detach()` for a new tensor that shares the values but has no history
# - `x.requires_grad_(False)` to switch a leaf off, in place
#
# First, the normal case, for comparison: `tracked` gets a `MulBackward0` node.

# %%
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
tracked = x * 2
print(tracked)

# %% [markdown]
# **Predict:** the same multiplication inside `torch.no_grad()`. Does the graph grow?

# %%
with torch.no_grad():
    y = x * 2
print(y, y.requires_grad, y.grad_fn)

# %% [markdown]
# No node: `y` is a plain tensor with no history, so there is nothing to call backward on.

# %%
# expect: RuntimeError: element 0 of tensors does not require grad
y.sum().backward()

# %% [markdown]
# `detach()` gives a tensor with the same values and **the same memory**, but outside the
# graph. **Predict:** after changing `d`, what does `x` print?

# %%
d = x.detach()
print(d, d.requires_grad)
d[0] = 10.0
print(x)

# %% [markdown]
# `requires_grad_(False)` switches the leaf itself off (the trailing `_` means in place).
# From now on, nothing computed from `x` is tracked.

# %%
x.requires_grad_(False)
w = x * 2
print(x, w, w.grad_fn)
