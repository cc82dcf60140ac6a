# ---
# title: Non-scalar outputs and backward(v)
# ---

# %% [markdown]
# # 03 · backward() needs a scalar, or a vector v
#
# The gradient of a vector with respect to a vector is a matrix (the Jacobian). PyTorch never
# builds that matrix: `backward()` only computes vᵀJ, a vector-Jacobian product.
# For a scalar output, v = 1 is implied. For a vector output, you must say what v is.

# %%
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x + 2
z = y * y * 2
z

# %% [markdown]
# `z` has three values and its top node is `MulBackward0`, not a mean.
# **Predict:** what happens on `z.backward()`?

# %%
# expect: RuntimeError: grad can be implicitly created only for scalar outputs
z.backward()

# %% [markdown]
# The fix: pass a vector `v` with the same shape as `z`. Here the Jacobian is diagonal,
# ∂zᵢ/∂xᵢ = 4yᵢ, so `x.grad` is `v * 4 * y`, element by element.
#
# **Predict** `x.grad` for `v = [0.1, 1.0, 0.001]` and `y = [3, 4, 5]`.

# %%
v = torch.tensor([0.1, 1.0, 0.001], dtype=torch.float32)
z.backward(v)
print(x.grad)

# %% [markdown]
# `v` must have exactly the shape of `z`:

# %%
# expect: RuntimeError: Mismatch in shape
z = y * y * 2
z.backward(torch.ones(2))

# %% [markdown]
# `backward(torch.ones_like(z))` is the same as `z.sum().backward()`: the sum adds a
# `SumBackward0` node whose gradient is all ones.
#
# We set `x.grad = None` first, because backward **adds** into `.grad` (lesson 05).

# %%
x.grad = None
z = y * y * 2
z.backward(torch.ones_like(z))
print("ones:", x.grad)

x.grad = None
s = (y * y * 2).sum()
s.backward()
print("sum: ", x.grad)
