# ---
# title: Gradients accumulate
# ---

# %% [markdown]
# # 05 · .grad accumulates: the wrong and the right training loop
#
# `backward()` does not overwrite `.grad`, it **adds** to it. That is on purpose (lesson 08
# shows why), but a training loop must clear the gradient at every step.
#
# The loss is `(weights * 3).sum()`: `MulBackward0` then `SumBackward0`, so the gradient of
# each weight is 3. **Predict** the printed gradients for epochs 0, 1 and 2.

# %%
import torch

weights = torch.ones(4, requires_grad=True)

for epoch in range(3):
    model_output = (weights * 3).sum()
    model_output.backward()
    print(f"gradient value in the epoch {epoch} is: {weights.grad}")

# %% [markdown]
# 3, 6, 9: each backward added another 3. An update `weights -= lr * weights.grad` would take
# steps that grow every epoch.
#
# The right loop clears the gradient after using it, in place, with `zero_()`.

# %%
weights = torch.ones(4, requires_grad=True)

for epoch in range(3):
    model_output = (weights * 3).sum()
    model_output.backward()
    print(f"gradient value in the epoch {epoch} is: {weights.grad}")
    weights.grad.zero_()

# %% [markdown]
# A common slip: zeroing **before** the first backward. **Predict:** what is `w.grad` for a
# brand-new tensor?

# %%
# expect: AttributeError: 'NoneType' object has no attribute 'zero_'
w = torch.ones(4, requires_grad=True)
w.grad.zero_()

# %% [markdown]
# `.grad` is `None` until a backward reaches the leaf. Setting it back to `None` is the other
# way to clear it (it is what `optimizer.zero_grad()` does, lesson 06).

# %%
w.grad = None
(w * 3).sum().backward()
print(w.grad)
