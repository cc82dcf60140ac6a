# ---
# title: A tensor used twice: gradients add up
# ---

# %% [markdown]
# # 08 · A tensor used twice: the gradients add up
#
# When a tensor feeds two operations, a change in it moves the output along both paths.
# The chain rule says: **add** the gradients coming back along each path.
#
# **Predict** `x.grad` for `y = x * x` at `x = 3`. Is it 3 or 6?

# %%
import torch

x = torch.tensor(3.0, requires_grad=True)
y = x * x
y.backward()
print(x.grad)

# %% [markdown]
# 6 = 2x. **Look at** the graph: `MulBackward0` has two edges to the same `AccumulateGrad`.
# Each edge carries 3; the node receives their sum.
#
# Two different paths: `f = exp(x) + sin(x)`. `ExpBackward0` and `SinBackward0` both lead
# back to `x`. Step through backward and watch the `AccumulateGrad` of `x` wait until both
# branches are done before it runs.

# %%
x = torch.tensor(1.0, requires_grad=True)
f = x.exp() + x.sin()
f.backward()
print(x.grad)
print("by hand:", torch.exp(torch.tensor(1.0)) + torch.cos(torch.tensor(1.0)))

# %% [markdown]
# The same happens in the middle of a graph. `h = 2x` is used three times in
# `out = h * h + h`. **Predict** `x.grad` at `x = 3`: d(out)/dh = 2h + 1 = 13, times dh/dx = 2.

# %%
x = torch.tensor(3.0, requires_grad=True)
h = x * 2
out = h * h + h
out.backward()
print(x.grad)

# %% [markdown]
# This is why `backward()` adds into `.grad` instead of overwriting it (lesson 05): adding is
# what the chain rule needs when a tensor has several uses, and separate backward calls are
# just more uses.
