# ---
# title: Every operation leaves a grad_fn
# ---

# %% [markdown]
# # 01 · Tracking the history of a computation
#
# A tensor created with `requires_grad=True` is a **leaf**: PyTorch will compute gradients
# for it. Every operation on it records a node, its `grad_fn`, so that `backward()` can later
# walk the computation in reverse. The graph panel draws exactly that record.
#
# **Look at** the leaf `x`: it has no `grad_fn`, and its repr says `requires_grad=True`.

# %%
"""import modules"""
import torch

"""create random tensor"""
x = torch.randn(3, requires_grad = True) # requires_grad = True is essential to create gradient function
print("x is:\n",x)

# %% [markdown]
# **Predict** before running: `y = x + 2` adds a number. What will `y`'s repr show that `x`'s
# did not?
#
# In the graph, a new node `AddBackward0` appears between `x` and `y`. Its name says which
# operation made `y`; the `0` is the variant of `add` that was used.

# %%
y = x + 2
print("y is:\n", y)

# %% [markdown]
# **Predict:** how many nodes does `z = y * y * 2` add? Count the multiplications.
#
# Two `MulBackward0` nodes: `y * y` first, then `* 2`. Look at the first one: both of its
# inputs come from the same `AddBackward0`, because `y` is used twice.
# The number `2` gets no node: only tensors are tracked.

# %%
z = y * y * 2
print("z is:\n", z)

# %% [markdown]
# `mean()` turns the three values into one: `MeanBackward0`. A single number at the top of the
# graph is what `backward()` needs (lesson 02).

# %%
z = z.mean()
print("z is:\n", z)

# %% [markdown]
# The graph is an ordinary data structure. `grad_fn.next_functions` lists the nodes one step
# closer to the leaves; the leaf itself is reached through an `AccumulateGrad` node, the node
# that will write into `x.grad`.
#
# **Ask the class:** which tensors are leaves? (`is_leaf`, and `grad_fn` is `None`.)

# %%
print("x:", x.is_leaf, x.grad_fn)
print("y:", y.is_leaf, y.grad_fn)
print("z:", z.is_leaf, z.grad_fn)
z.grad_fn.next_functions
