# %% [markdown]
# The seed notebook's first example, as a percent script.

# %%
import torch

x = torch.tensor([-1.2643, 1.0159, 0.2505], requires_grad=True)
y = x + 2

# %%
z = y * y * 2
out = z.mean()
print(out)
