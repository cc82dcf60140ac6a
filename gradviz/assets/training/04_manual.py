# ---
# title: (d) Gradient descent by hand: w.grad = None
# iterations: 40
# lr: 0.02
# speed: 10
# log_loss: true
# ---

# %% [markdown]
# w walks to 2 when the grad is reset; with the grads piling up it overshoots and oscillates

# %%
# Gradient descent by hand, then forget the grad.
x = torch.tensor([1.0, 2.0, 3.0, 4.0])
y = torch.tensor([2.0, 4.0, 6.0, 8.0])
w = torch.tensor(0.0, requires_grad=True)

for i in range(iterations):
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
    w.grad = None
