# ---
# title: Every operation leaves a grad_fn
# ---

# %% [markdown]
# # 01 · Tracking the history of a computation
#
# The seed notebook's first example, in one cell. `x` is created with `requires_grad=True`:
# it is a **leaf**, a tensor PyTorch will compute gradients for. Every operation on it records
# a node, its `grad_fn`, so that `backward()` can later walk the computation in reverse. The
# graph panel draws exactly that record, from the leaf `x` at the bottom up to `out`.
#
# **Predict** before running: how many nodes will the graph have? (One per operation on a
# tracked tensor, plus one for the leaf.)

# %%
import torch

x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
y = x + 2
z = y * y * 2
out = z.mean()

# %% [markdown]
# Every tensor carries its node in `grad_fn`, and its repr names it.
# **Predict** what `x` and `y` print. `x` has no `grad_fn` (it was not made by an operation);
# `y` shows `AddBackward0`: the name says which operation made it, the `0` which variant of
# `add` was used.

# %%
print("x is:\n", x)
print("y is:\n", y)

# %% [markdown]
# `z = y * y * 2` added two `MulBackward0` nodes: `y * y` first, then `* 2`. **Look at** the
# first one: both of its inputs come from the same `AddBackward0`, because `y` is used twice.
# The number `2` gets no node: only tensors are tracked.

# %%
print("z is:\n", z)

# %% [markdown]
# `mean()` turns the three values into one: `MeanBackward0`. A single number at the top of the
# graph is what `backward()` needs (lesson 02).

# %%
print("out is:\n", out)

# %% [markdown]
# The graph is an ordinary data structure. `grad_fn.next_functions` lists the nodes one step
# closer to the leaves; the leaf itself is reached through an `AccumulateGrad` node, the node
# that will write into `x.grad`.
#
# **Ask the class:** which tensors are leaves? (`is_leaf` is True and `grad_fn` is `None`.)

# %%
print("x:", x.is_leaf, x.grad_fn)
print("y:", y.is_leaf, y.grad_fn)
print("out:", out.is_leaf, out.grad_fn)
out.grad_fn.next_functions

# %% [markdown]
# The seed started from random values. **Predict:** if we write `x + 2` twice instead of
# reusing `y`, does the graph change? Each `x + 2` is a new operation, so there are now two
# `AddBackward0` nodes; only the values, not the shape, depend on `randn`.

# %%
x = torch.randn(3, requires_grad=True)
out = ((x + 2) * (x + 2) * 2).mean()
print(out)
