"""torch's module paths for the engine's public classes, so ``type(x)`` prints as in torch
(``<class 'torch.nn.modules.linear.Linear'>``, ``<class 'torch.optim.sgd.SGD'>``).

The table lists where torch 2.13 defines each class of torch.nn, torch.optim and
torch.autograd.grad_mode; :func:`apply` renames the engine's classes of the same name.
"""

from __future__ import annotations

from types import ModuleType

_WHERE = {
    "torch.autograd.grad_mode": (
        "enable_grad enforce_grad_layout_policy inference_mode no_grad set_grad_enabled "
        "set_multithreading_enabled"),
    "torch.nn.modules.activation": (
        "CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU LogSigmoid "
        "LogSoftmax Mish MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid "
        "Softmax Softmax2d Softmin Softplus Softshrink Softsign Tanh Tanhshrink Threshold"),
    "torch.nn.modules.adaptive": (
        "AdaptiveLogSoftmaxWithLoss"),
    "torch.nn.modules.batchnorm": (
        "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
        "LazyBatchNorm3d SyncBatchNorm"),
    "torch.nn.modules.channelshuffle": (
        "ChannelShuffle"),
    "torch.nn.modules.container": (
        "Container ModuleDict ModuleList ParameterDict ParameterList Sequential"),
    "torch.nn.modules.conv": (
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
        "LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d"),
    "torch.nn.modules.distance": (
        "CosineSimilarity PairwiseDistance"),
    "torch.nn.modules.dropout": (
        "AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout"),
    "torch.nn.modules.flatten": (
        "Flatten Unflatten"),
    "torch.nn.modules.fold": (
        "Fold Unfold"),
    "torch.nn.modules.instancenorm": (
        "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d "
        "LazyInstanceNorm3d"),
    "torch.nn.modules.linear": (
        "Bilinear Identity LazyLinear Linear"),
    "torch.nn.modules.linear_cross_entropy_options": (
        "LinearCrossEntropyOptions"),
    "torch.nn.modules.loss": (
        "BCELoss BCEWithLogitsLoss CTCLoss CosineEmbeddingLoss CrossEntropyLoss "
        "GaussianNLLLoss HingeEmbeddingLoss HuberLoss KLDivLoss L1Loss "
        "LinearCrossEntropyLoss MSELoss MarginRankingLoss MultiLabelMarginLoss "
        "MultiLabelSoftMarginLoss MultiMarginLoss NLLLoss NLLLoss2d PoissonNLLLoss "
        "SmoothL1Loss SoftMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss"),
    "torch.nn.modules.module": (
        "Module"),
    "torch.nn.modules.normalization": (
        "CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm"),
    "torch.nn.modules.padding": (
        "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d "
        "ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d "
        "ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d"),
    "torch.nn.modules.pixelshuffle": (
        "PixelShuffle PixelUnshuffle"),
    "torch.nn.modules.pooling": (
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
        "AdaptiveMaxPool2d AdaptiveMaxPool3d AvgPool1d AvgPool2d AvgPool3d "
        "FractionalMaxPool2d FractionalMaxPool3d LPPool1d LPPool2d LPPool3d MaxPool1d "
        "MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d"),
    "torch.nn.modules.rnn": (
        "GRU GRUCell LSTM LSTMCell RNN RNNBase RNNCell RNNCellBase"),
    "torch.nn.modules.sparse": (
        "Embedding EmbeddingBag"),
    "torch.nn.modules.transformer": (
        "Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder "
        "TransformerEncoderLayer"),
    "torch.nn.modules.upsampling": (
        "Upsample UpsamplingBilinear2d UpsamplingNearest2d"),
    "torch.nn.parallel.data_parallel": (
        "DataParallel"),
    "torch.nn.parameter": (
        "Buffer Parameter UninitializedBuffer UninitializedParameter"),
    "torch.optim": (
        "Adafactor Muon"),
    "torch.optim.adadelta": (
        "Adadelta"),
    "torch.optim.adagrad": (
        "Adagrad"),
    "torch.optim.adam": (
        "Adam"),
    "torch.optim.adamax": (
        "Adamax"),
    "torch.optim.adamw": (
        "AdamW"),
    "torch.optim.asgd": (
        "ASGD"),
    "torch.optim.lbfgs": (
        "LBFGS"),
    "torch.optim.lr_scheduler": (
        "ChainedScheduler ConstantLR CosineAnnealingLR CosineAnnealingWarmRestarts CyclicLR "
        "ExponentialLR LRScheduler LambdaLR LinearLR MultiStepLR MultiplicativeLR "
        "OneCycleLR PolynomialLR ReduceLROnPlateau SequentialLR StepLR"),
    "torch.optim.nadam": (
        "NAdam"),
    "torch.optim.optimizer": (
        "Optimizer"),
    "torch.optim.radam": (
        "RAdam"),
    "torch.optim.rmsprop": (
        "RMSprop"),
    "torch.optim.rprop": (
        "Rprop"),
    "torch.optim.sgd": (
        "SGD"),
    "torch.optim.sparse_adam": (
        "SparseAdam"),
}
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names.split()}


def apply(*namespaces: ModuleType) -> None:
    """Give each engine class found in ``namespaces`` torch's ``__module__``."""
    for ns in namespaces:
        for name, obj in vars(ns).items():
            if isinstance(obj, type) and name in _MODULE_OF and obj.__module__.startswith(
                    "engine"):
                obj.__module__ = _MODULE_OF[name]
