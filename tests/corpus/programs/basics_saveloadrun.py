# Imitates pytorch/tutorials beginner_source/basics/saveloadrun_tutorial.py (Save and Load the Model)
import os
import tempfile

import torch
import torch.nn as nn

torch.manual_seed(3)
model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
x = torch.randn(2, 3, 8, 8)
before = model(x)

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model_weights.pth")
    torch.save(model.state_dict(), path)
    print(sorted(model.state_dict().keys()))

    model2 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    print(torch.equal(model2(x), before))
    result = model2.load_state_dict(torch.load(path, weights_only=True))
    print(result)
    model2.eval()
    print(torch.equal(model2(x), before))
    print(before)

    sd = torch.load(path)
    for k, v in sd.items():
        print(k, tuple(v.shape), v.dtype)
    try:
        model2.load_state_dict({k: v for k, v in sd.items() if k != "3.bias"})
    except RuntimeError as e:
        print("RuntimeError:", e)
