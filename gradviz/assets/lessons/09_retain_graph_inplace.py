# ---
# title: retain_graph, freed saved tensors and in-place errors
# ---

# %% [markdown]
# # 09 · What backward needs from the forward pass
#
# Some nodes keep tensors from the forward pass: `ExpBackward0` keeps its result, because
# the derivative of `exp(x)` is `exp(x)`. Turn on *saved tensors* in the graph view to see
# them. After `backward()`, PyTorch **frees** them to save memory.
#
# **Predict:** what happens on a second `loss.backward()`?

# %%
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x.exp()
loss = y.sum()
loss.backward()
print(x.grad)

# %%
# expect: RuntimeError: Trying to backward through the graph a second time
loss.backward()

# %% [markdown]
# `retain_graph=True` keeps the saved tensors, so the graph can be walked again.
# **Predict** `x.grad` after two backward calls (remember lesson 05).

# %%
x.grad = None
y = x.exp()
loss = y.sum()
loss.backward(retain_graph=True)
loss.backward()
print(x.grad)

# %% [markdown]
# A graph of additions saves nothing (the derivative of `x + 1` is 1), so `AddBackward0` and
# `SumBackward0` can be run again without `retain_graph`.

# %%
s = (x + 1).sum()
s.backward()
s.backward()
print(x.grad)

# %% [markdown]
# Saved tensors must not change before backward. Every tensor has a version counter that
# in-place operations (names ending in `_`) increase. **Look at** `y.grad_fn` after `add_`:
# the in-place op made it `AddBackward0`, but `ExpBackward0` below it saved `y` at version 0.

# %%
y = x.exp()
y.add_(1)
print(y.grad_fn)

# %%
# expect: RuntimeError: modified by an inplace operation
y.sum().backward()

# %% [markdown]
# Leaves that require grad refuse in-place changes outright, except inside `torch.no_grad()`,
# which is how optimizers update weights.

# %%
# expect: RuntimeError: a leaf Variable that requires grad is being used in an in-place operation
x.add_(1)

# %%
with torch.no_grad():
    x.add_(1)
print(x)
