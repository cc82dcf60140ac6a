# Imitates pytorch/tutorials beginner_source/basics/data_tutorial.py (Datasets & DataLoaders, custom Dataset)
import torch
from torch.utils.data import DataLoader, Dataset


class CustomImageDataset(Dataset):
    """A made-up image dataset: each item is a 1x6x6 image and its label."""

    def __init__(self, n, transform=None, target_transform=None):
        g = torch.Generator().manual_seed(7)
        self.images = torch.rand(n, 1, 6, 6, generator=g)
        self.img_labels = torch.randint(0, 3, (n,), generator=g)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        image = self.images[idx]
        label = self.img_labels[idx].item()
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


labels_map = {0: "T-Shirt", 1: "Trouser", 2: "Pullover"}
training_data = CustomImageDataset(10, transform=lambda im: im * 2 - 1)
print(len(training_data))
img, label = training_data[3]
print(img.shape, labels_map[label])

torch.manual_seed(0)
train_dataloader = DataLoader(training_data, batch_size=4, shuffle=True)
train_features, train_labels = next(iter(train_dataloader))
print(f"Feature batch shape: {train_features.size()}")
print(f"Labels batch shape: {train_labels.size()}")
img = train_features[0].squeeze()
label = train_labels[0]
print(img)
print(f"Label: {label}")

for i, (xb, yb) in enumerate(train_dataloader):
    print(i, xb.shape, yb)

one_hot = CustomImageDataset(5, target_transform=lambda y: torch.zeros(3, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
print(one_hot[0][1])
print(len(DataLoader(training_data, batch_size=4, drop_last=True)))
