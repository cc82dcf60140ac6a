# ---
# title: Broadcasting and the sum back to the input's shape
# ---

# %% [markdown]
# # 07 · Broadcasting: the gradient is summed back to the input's shape
#
# A bias `b` of shape `(3,)` added to a batch `X` of shape `(2, 3)` is used once per row.
# The graph shows a single `AddBackward0`: broadcasting adds no node. But the gradient that
# reaches `b` must have `b`'s shape, so autograd **sums** over the broadcast rows.
#
# **Predict** the shape and the values of `b.grad`.

# %%
import torch

X = torch.arange(6.0).reshape(2, 3)
b = torch.zeros(3, requires_grad=True)
out = X + b
print(out.shape)

# %%
out.sum().backward()
print(b.grad)

# %% [markdown]
# Each entry of `b` was used twice (once per row), so its gradient is 1 + 1 = 2.
# The gradient always has the shape of the tensor it belongs to.
#
# With a multiplication the values matter. `c` has shape `(2, 1)`: it is stretched across the
# columns. **Predict** `c.grad` (the gradient of `X * c` with respect to `c` is `X`).

# %%
c = torch.ones(2, 1, requires_grad=True)
(X * c).sum().backward()
print(c.grad)

# %% [markdown]
# Row sums: 0 + 1 + 2 = 3 and 3 + 4 + 5 = 12, with shape `(2, 1)`.
#
# Writing the stretch explicitly with `expand` makes the hidden step visible: an
# `ExpandBackward0` node, whose backward is that sum. **Predict** `b.grad` this time: the
# gradient of `X * e` is `X`, summed over the rows.

# %%
b.grad = None
e = b.expand(2, 3)
(X * e).sum().backward()
print(e.grad_fn, b.grad)

# %% [markdown]
# Broadcasting only stretches dimensions of size 1 (or missing ones on the left).
# **Predict:** does `X + torch.ones(2)` work?

# %%
# expect: RuntimeError: The size of tensor a (3) must match the size of tensor b (2)
X + torch.ones(2)
