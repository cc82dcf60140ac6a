# ---
# title: (a) The seed lesson: weights.grad.zero_()
# iterations: 10
# lr: 0.01
# speed: 2
# log_loss: false
# ---

# %% [markdown]
# d(sum(3w))/dw = 3 every time: zeroed 3, 3, 3; not zeroed 3, 6, 9, ...

# %%
# The seed lesson: .grad accumulates unless zeroed.
weights = torch.ones(4, requires_grad=True)

for epoch in range(iterations):
    model_output = (weights * 3).sum()
    model_output.backward()
    weights.grad.zero_()
