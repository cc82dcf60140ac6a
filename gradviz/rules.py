"""The local derivative rule of every backward node, in words and symbols (no Qt).

``grad`` is the gradient arriving at the node (d loss / d output); ``grad_<input>`` is what the
node sends to that input. Inputs and saved values use torch's names (``self``, ``other``,
``result``, ``mat2``...), as ``node._saved_self`` does. ``math`` is the derivative in textbook
notation. Broadcast inputs get their gradient summed back to their own shape by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Rule", "RULES", "rule_for", "rule_for_node", "GENERIC", "CUSTOM"]


@dataclass(frozen=True)
class Rule:
    """How one kind of node turns the incoming ``grad`` into gradients for its inputs."""

    name: str
    words: str
    symbols: tuple[str, ...]
    math: str = ""

    @property
    def generic(self) -> bool:
        """True for the fallback used when no rule was written for a node."""
        return self.name == ""


GENERIC = Rule(
    "", "Chain rule: multiply the incoming gradient by this node's local derivative, one "
        "result per input.",
    ("grad_input = grad * d output / d input",), "∂L/∂x = ∂L/∂y · ∂y/∂x")


def _r(name: str, words: str, *symbols: str, math: str = "") -> Rule:
    return Rule(name, words, tuple(symbols), math)


_PASS = "The gradient passes through unchanged."
_RESHAPE = "Only the layout changed: the gradient is put back into the input's shape."

_LIST: list[Rule] = [
    # ----------------------------------------------------------------- the leaf sink
    _r("AccumulateGrad",
       "A leaf's sink: adds the incoming gradient into the leaf's .grad (creating it the "
       "first time). Gradients from several paths and several backward() calls add up.",
       "x.grad += grad", math="x.grad ← x.grad + ∂L/∂x"),
    # ----------------------------------------------------------------- arithmetic
    _r("AddBackward0", "Addition: both inputs get the gradient unchanged (times alpha for the "
       "second).", "grad_self = grad", "grad_other = alpha * grad",
       math="∂(a + b)/∂a = 1,  ∂(a + b)/∂b = 1"),
    _r("AddBackward1", "Adding a number: the tensor gets the gradient unchanged.",
       "grad_self = grad", math="∂(a + c)/∂a = 1"),
    _r("SubBackward0", "Subtraction: the first input gets the gradient, the second its "
       "negative.", "grad_self = grad", "grad_other = -alpha * grad",
       math="∂(a − b)/∂a = 1,  ∂(a − b)/∂b = −1"),
    _r("SubBackward1", "Subtracting a number: the tensor gets the gradient unchanged.",
       "grad_self = grad", math="∂(a − c)/∂a = 1"),
    _r("RsubBackward0", "Reversed subtraction other − alpha·self.",
       "grad_self = -alpha * grad", "grad_other = grad", math="∂(b − a)/∂a = −1"),
    _r("RsubBackward1", "A number minus the tensor (c − x): the gradient flips sign.",
       "grad_self = -grad", math="∂(c − x)/∂x = −1"),
    _r("MulBackward0", "Product: each input gets the gradient times the other input (both "
       "saved in the forward pass).", "grad_self = grad * other", "grad_other = grad * self",
       math="∂(a·b)/∂a = b,  ∂(a·b)/∂b = a"),
    _r("MulBackward1", "Multiplying by a number: the gradient is scaled by it.",
       "grad_self = grad * other", math="∂(c·x)/∂x = c"),
    _r("DivBackward0", "Quotient: 1/other for the numerator, −self/other² for the "
       "denominator.", "grad_self = grad / other", "grad_other = -grad * self / other**2",
       math="∂(a/b)/∂a = 1/b,  ∂(a/b)/∂b = −a/b²"),
    _r("DivBackward1", "Dividing by a number: the gradient is divided by it.",
       "grad_self = grad / other", math="∂(x/c)/∂x = 1/c"),
    _r("ReciprocalBackward0", "1/x: minus the square of the saved result.",
       "grad_self = -grad * result**2", math="d(1/x)/dx = −1/x²"),
    _r("NegBackward0", "Negation: the gradient flips sign.", "grad_self = -grad",
       math="d(−x)/dx = −1"),
    _r("PowBackward0", "Power with a constant exponent n: n·xⁿ⁻¹ (x saved).",
       "grad_self = grad * exponent * self**(exponent - 1)", math="d(xⁿ)/dx = n·xⁿ⁻¹"),
    _r("PowBackward1", "Tensor to a tensor power: power rule for the base, result·ln(base) "
       "for the exponent.", "grad_self = grad * exponent * self**(exponent - 1)",
       "grad_exponent = grad * result * log(self)",
       math="∂(aᵇ)/∂a = b·aᵇ⁻¹,  ∂(aᵇ)/∂b = aᵇ·ln a"),
    _r("PowBackward2", "A number to a tensor power (cˣ): the saved result times ln c.",
       "grad_exponent = grad * result * log(base)", math="d(cˣ)/dx = cˣ·ln c"),
    # ----------------------------------------------------------------- unary math
    _r("ExpBackward0", "exp is its own derivative: the saved output is reused.",
       "grad_self = grad * result", math="d(eˣ)/dx = eˣ"),
    _r("LogBackward0", "Natural log: divide by the saved input.", "grad_self = grad / self",
       math="d(ln x)/dx = 1/x"),
    _r("Log1PBackward0", "log(1 + x).", "grad_self = grad / (1 + self)",
       math="d ln(1 + x)/dx = 1/(1 + x)"),
    _r("Expm1Backward0", "exp(x) − 1.", "grad_self = grad * (result + 1)",
       math="d(eˣ − 1)/dx = eˣ"),
    _r("SinBackward0", "Sine: multiply by the cosine of the saved input.",
       "grad_self = grad * cos(self)", math="d(sin x)/dx = cos x"),
    _r("CosBackward0", "Cosine: multiply by minus the sine of the saved input.",
       "grad_self = grad * -sin(self)", math="d(cos x)/dx = −sin x"),
    _r("TanhBackward0", "tanh: 1 − tanh², from the saved output.",
       "grad_self = grad * (1 - result**2)", math="d(tanh x)/dx = 1 − tanh² x"),
    _r("SigmoidBackward0", "Sigmoid: σ·(1 − σ), from the saved output.",
       "grad_self = grad * result * (1 - result)", math="dσ(x)/dx = σ(x)·(1 − σ(x))"),
    _r("ReluBackward0", "ReLU: the gradient passes where the output is positive, else 0.",
       "grad_self = grad * (result > 0)", math="d relu(x)/dx = 1 if x > 0 else 0"),
    _r("ThresholdBackward0", "ReLU as threshold: the gradient passes where x > threshold.",
       "grad_self = grad * (self > threshold)", math="1 if x > t else 0"),
    _r("LeakyReluBackward0", "Leaky ReLU: slope 1 for x > 0, negative_slope otherwise.",
       "grad_self = grad * where(self > 0, 1, negative_slope)", math="1 or α"),
    _r("GeluBackward0", "GELU: x·Φ(x), so Φ(x) + x·φ(x).",
       "grad_self = grad * (Phi(self) + self * phi(self))", math="d(x·Φ(x))/dx = Φ(x) + x·φ(x)"),
    _r("SiluBackward0", "SiLU x·σ(x): σ(x)·(1 + x·(1 − σ(x))).",
       "grad_self = grad * sigmoid(self) * (1 + self * (1 - sigmoid(self)))",
       math="d(x·σ(x))/dx = σ(x)(1 + x(1 − σ(x)))"),
    _r("SoftplusBackward0", "softplus ln(1 + eˣ): its derivative is the sigmoid.",
       "grad_self = grad * sigmoid(beta * self)", math="d ln(1 + eˣ)/dx = σ(x)"),
    _r("EluBackward0", "ELU: 1 for x > 0, α·eˣ otherwise.",
       "grad_self = grad * where(self > 0, 1, alpha * exp(self))", math="1 or α·eˣ"),
    _r("HardtanhBackward0", "Hardtanh: the gradient passes inside [min_val, max_val].",
       "grad_self = grad * (min_val < self < max_val)", math="1 inside, 0 outside"),
    _r("AbsBackward0", "Absolute value: multiply by the sign of the saved input (0 at 0).",
       "grad_self = grad * sign(self)", math="d|x|/dx = sign(x)"),
    _r("SqrtBackward0", "Square root: divide by twice the saved output.",
       "grad_self = grad / (2 * result)", math="d√x/dx = 1/(2√x)"),
    _r("RsqrtBackward0", "1/√x.", "grad_self = -0.5 * grad * result**3",
       math="d(x^−½)/dx = −½·x^−³ᐟ²"),
    _r("ErfBackward0", "Error function.", "grad_self = grad * 2 / sqrt(pi) * exp(-self**2)",
       math="d erf(x)/dx = 2/√π · e^(−x²)"),
    _r("SignBackward0", "sign(x) is flat almost everywhere: no gradient.",
       "grad_self = 0 * grad", math="d sign(x)/dx = 0"),
    _r("FloorBackward0", "floor is flat almost everywhere: no gradient.",
       "grad_self = 0 * grad", math="0"),
    _r("CeilBackward0", "ceil is flat almost everywhere: no gradient.",
       "grad_self = 0 * grad", math="0"),
    _r("RoundBackward0", "round is flat almost everywhere: no gradient.",
       "grad_self = 0 * grad", math="0"),
    _r("MaximumBackward0", "Elementwise max: the larger input gets the gradient (split in "
       "half on ties).", "grad_self = grad * (self > other)  (½ where equal)",
       "grad_other = grad * (other > self)  (½ where equal)",
       math="∂max(a, b)/∂a = 1 if a > b else 0"),
    _r("MinimumBackward0", "Elementwise min: the smaller input gets the gradient (split in "
       "half on ties).", "grad_self = grad * (self < other)  (½ where equal)",
       "grad_other = grad * (other < self)  (½ where equal)",
       math="∂min(a, b)/∂a = 1 if a < b else 0"),
    _r("ClampBackward1", "Clamp: the gradient passes where the input was inside [min, max].",
       "grad_self = grad * (min <= self <= max)", math="1 inside, 0 where clamped"),
    _r("ClampMinBackward0", "clamp(min=...): the gradient passes where self >= min.",
       "grad_self = grad * (self >= min)", math="1 if x ≥ min else 0"),
    _r("ClampMaxBackward0", "clamp(max=...): the gradient passes where self <= max.",
       "grad_self = grad * (self <= max)", math="1 if x ≤ max else 0"),
    _r("WhereBackward0", "where(condition, self, other): each element's gradient goes to the "
       "input it was taken from.", "grad_self = where(condition, grad, 0)",
       "grad_other = where(condition, 0, grad)"),
    _r("MaskedFillBackward0", "masked_fill: filled positions get no gradient.",
       "grad_self = where(mask, 0, grad)"),
    _r("ToCopyBackward0", "A dtype cast: the gradient is cast back to the input's dtype.",
       "grad_self = grad.to(self.dtype)", math="dx/dx = 1"),
    _r("CloneBackward0", "A copy: " + _PASS, "grad_self = grad", math="dx/dx = 1"),
    _r("AliasBackward0", "An alias: " + _PASS, "grad_self = grad"),
    _r("ZeroBackward0", "zero_() overwrote the values: nothing flows back to the old ones.",
       "grad_self = 0 * grad", math="d(0)/dx = 0"),
    _r("FillBackward0", "fill_() overwrote the values with a constant: no gradient flows "
       "back.", "grad_self = 0 * grad", math="d(c)/dx = 0"),
    _r("FillBackward1", "fill_() with a tensor value: the value gets the summed gradient.",
       "grad_self = 0 * grad", "grad_value = grad.sum()"),
    _r("FillBackward2", "fill_(number) overwrote the values with a constant: no gradient "
       "flows back.", "grad_self = 0 * grad", math="d(c)/dx = 0"),
    _r("FillBackward3", "fill_(0-dim tensor): the old values get nothing, the fill value gets "
       "the gradient of every element it filled, summed.", "grad_self = 0 * grad",
       "grad_value = grad.sum()"),
    _r("CopyBackwards", "copy_(src) replaced the values: the old values get nothing, src gets "
       "the gradient (summed to its shape).", "grad_self = 0 * grad", "grad_src = grad"),
    # ----------------------------------------------------------------- reductions
    _r("SumBackward0", "Sum of all elements: each element contributed once, so every one "
       "gets the (scalar) gradient.", "grad_self = grad.expand(self.shape)",
       math="∂(Σᵢ xᵢ)/∂xⱼ = 1"),
    _r("SumBackward1", "Sum along dim: the gradient is broadcast back along the summed dims.",
       "grad_self = grad.unsqueeze(dim).expand(self.shape)", math="∂(Σᵢ xᵢ)/∂xⱼ = 1"),
    _r("MeanBackward0", "Mean of all N elements: each gets the gradient divided by N.",
       "grad_self = grad.expand(self.shape) / N", math="∂(Σᵢ xᵢ / N)/∂xⱼ = 1/N"),
    _r("MeanBackward1", "Mean along dim: the gradient is broadcast back and divided by the "
       "number of elements averaged.", "grad_self = grad.unsqueeze(dim).expand(self.shape) / n",
       math="∂(Σᵢ xᵢ / n)/∂xⱼ = 1/n"),
    _r("MaxBackward1", "Max of all elements: only the maximal element(s) get the gradient "
       "(split evenly between ties).", "grad_self = grad * (self == result) / count",
       math="1 at the argmax, 0 elsewhere"),
    _r("MinBackward1", "Min of all elements: only the minimal element(s) get the gradient "
       "(split evenly between ties).", "grad_self = grad * (self == result) / count",
       math="1 at the argmin, 0 elsewhere"),
    _r("MaxBackward0", "Max along dim: each gradient goes back to the index that won.",
       "grad_self = zeros(self.shape).scatter(dim, indices, grad)",
       math="1 at the argmax, 0 elsewhere"),
    _r("MinBackward0", "Min along dim: each gradient goes back to the index that won.",
       "grad_self = zeros(self.shape).scatter(dim, indices, grad)",
       math="1 at the argmin, 0 elsewhere"),
    _r("AmaxBackward0", "amax: the maximal elements along dim share the gradient evenly.",
       "grad_self = grad * (self == result) / count(self == result, dim)"),
    _r("AminBackward0", "amin: the minimal elements along dim share the gradient evenly.",
       "grad_self = grad * (self == result) / count(self == result, dim)"),
    _r("ProdBackward0", "Product of all elements: each gets the product of the others.",
       "grad_self = grad * result / self", math="∂(Πᵢ xᵢ)/∂xⱼ = Πᵢ≠ⱼ xᵢ"),
    _r("CumsumBackward0", "Cumulative sum: reversed cumulative sum of the gradient.",
       "grad_self = grad.flip(dim).cumsum(dim).flip(dim)"),
    _r("LogsumexpBackward0", "logsumexp: the softmax of the input.",
       "grad_self = grad * exp(self - result)", math="∂ LSE(x)/∂xⱼ = softmax(x)ⱼ"),
    _r("VarBackward0", "Variance: 2·(x − mean)/(N − correction).",
       "grad_self = grad * 2 * (self - self.mean()) / (N - correction)"),
    _r("StdBackward0", "Standard deviation: (x − mean)/((N − correction)·std).",
       "grad_self = grad * (self - self.mean()) / ((N - correction) * result)"),
    _r("SoftmaxBackward0", "Softmax along dim: the Jacobian s·(δ − s) applied to grad, from "
       "the saved output s.", "grad_self = result * (grad - (grad * result).sum(dim, keepdim))",
       math="∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ − sⱼ)"),
    _r("LogSoftmaxBackward0", "Log-softmax along dim, from the saved output.",
       "grad_self = grad - exp(result) * grad.sum(dim, keepdim)",
       math="∂(log sᵢ)/∂xⱼ = δᵢⱼ − sⱼ"),
    _r("NormBackward0", "Norm: x/‖x‖ for the 2-norm.", "grad_self = grad * self / result",
       math="d‖x‖/dx = x/‖x‖"),
    _r("NormBackward1", "2-norm: x divided by the saved norm (0 where the norm is 0).",
       "grad_self = grad * self / result", math="d‖x‖/dx = x/‖x‖"),
    _r("LinalgVectorNormBackward0", "Vector norm: x/‖x‖ for the 2-norm.",
       "grad_self = grad * self / result", math="d‖x‖/dx = x/‖x‖"),
    # ----------------------------------------------------------------- shape and indexing
    _r("ViewBackward0", _RESHAPE, "grad_self = grad.reshape(self.shape)"),
    _r("UnsafeViewBackward0", _RESHAPE, "grad_self = grad.reshape(self.shape)"),
    _r("ReshapeAliasBackward0", _RESHAPE, "grad_self = grad.reshape(self.shape)"),
    _r("TBackward0", "Transpose: the gradient is transposed back.", "grad_self = grad.t()"),
    _r("PermuteBackward0", "Permute: the gradient gets the inverse permutation.",
       "grad_self = grad.permute(inverse(dims))"),
    _r("TransposeBackward0", "Swap of two dims: swap them back.",
       "grad_self = grad.transpose(dim0, dim1)"),
    _r("UnsqueezeBackward0", "A size-1 dim was added: remove it.",
       "grad_self = grad.squeeze(dim)"),
    _r("SqueezeBackward0", "Size-1 dims were removed: put them back.",
       "grad_self = grad.reshape(self.shape)"),
    _r("SqueezeBackward1", "A size-1 dim was removed: put it back.",
       "grad_self = grad.unsqueeze(dim)"),
    _r("SqueezeBackward2", "Size-1 dims were removed: put them back.",
       "grad_self = grad.reshape(self.shape)"),
    _r("SqueezeBackward3", "A size-1 dim was removed: put it back.",
       "grad_self = grad.unsqueeze(dim)"),
    _r("SqueezeBackward4", "A size-1 dim was removed: put it back.",
       "grad_self = grad.unsqueeze(dim)"),
    _r("ExpandBackward0", "Broadcast (expand): copies of one element all send gradient back, so "
       "it is summed over the expanded dims.", "grad_self = grad.sum_to(self.shape)",
       math="∂/∂x of n copies of x = n"),
    _r("RepeatBackward0", "repeat: the gradients of all copies are summed.",
       "grad_self = sum of grad over the repeats"),
    _r("AsStridedBackward0", "as_strided: gradients of overlapping views add up.",
       "grad_self = scatter_add(grad) into self.shape"),
    _r("CatBackward0", "Concatenation: each input gets its own slice of the gradient.",
       "grad_i = grad.narrow(dim, offset_i, size_i)"),
    _r("StackBackward0", "Stack: each input gets its own slice of the gradient.",
       "grad_i = grad.select(dim, i)"),
    _r("SplitBackward0", "split: the pieces' gradients are concatenated back.",
       "grad_self = cat(grads, dim)"),
    _r("UnbindBackward0", "unbind: the pieces' gradients are stacked back.",
       "grad_self = stack(grads, dim)"),
    _r("SelectBackward0", "x[i]: the gradient goes to the selected position, 0 elsewhere.",
       "grad_self = zeros(self.shape); grad_self[index] = grad"),
    _r("SliceBackward0", "x[a:b]: the gradient goes to the sliced positions, 0 elsewhere.",
       "grad_self = zeros(self.shape); grad_self[a:b] = grad"),
    _r("IndexBackward0", "x[indices]: the gradient goes back to the picked positions; an index "
       "picked twice gets both gradients added.",
       "grad_self = zeros(self.shape); grad_self[indices] += grad"),
    _r("IndexSelectBackward0", "index_select: gradients are added back at the indices.",
       "grad_self = zeros(self.shape).index_add(dim, index, grad)"),
    _r("GatherBackward0", "gather: gradients are scatter-added back to where they came from.",
       "grad_self = zeros(self.shape).scatter_add(dim, index, grad)"),
    _r("EmbeddingBackward0", "Embedding lookup: each looked-up row gets the gradient of every "
       "position that used it, added up.", "grad_weight[indices] += grad"),
    _r("IndexPutBackward0", "x.index_put(indices, values): the replaced positions send nothing "
       "back to x; values get the gradient of the positions they filled.",
       "grad_self = grad with grad[indices] = 0", "grad_values = grad[indices]"),
    _r("CopySlices", "x[indices] = value (in place): the overwritten positions send nothing "
       "back to the old x; value gets the gradient of the positions it filled.",
       "grad_self = grad with grad[indices] = 0", "grad_src = grad[indices]"),
    # ----------------------------------------------------------------- matrix products
    _r("MmBackward0", "Matrix product A @ B: grad @ Bᵀ for A, Aᵀ @ grad for B.",
       "grad_self = grad @ mat2.T", "grad_mat2 = self.T @ grad",
       math="∂(AB)/∂A: G·Bᵀ,  ∂(AB)/∂B: Aᵀ·G"),
    _r("MvBackward0", "Matrix-vector product A @ v.", "grad_self = outer(grad, vec)",
       "grad_vec = self.T @ grad", math="∂(Av)/∂A: g·vᵀ,  ∂(Av)/∂v: Aᵀ·g"),
    _r("DotBackward0", "Dot product: each vector gets the gradient times the other.",
       "grad_self = grad * tensor", "grad_tensor = grad * self",
       math="∂(a·b)/∂a = b,  ∂(a·b)/∂b = a"),
    _r("AddmmBackward0", "bias + mat1 @ mat2 (a linear layer): the bias gets the gradient "
       "summed over the batch, the matrices the matmul rule (times beta / alpha when given).",
       "grad_bias = grad.sum_to(bias.shape)", "grad_mat1 = grad @ mat2.T",
       "grad_mat2 = mat1.T @ grad", math="∂(b + XW)/∂X: G·Wᵀ,  ∂/∂W: Xᵀ·G,  ∂/∂b: Σ G"),
    _r("BmmBackward0", "Batched matrix product: the matmul rule per batch.",
       "grad_self = grad @ mat2.transpose(-1, -2)", "grad_mat2 = self.transpose(-1, -2) @ grad"),
    _r("ConvolutionBackward0", "Convolution: the input gets the transposed convolution of grad "
       "with the weights, the weights the correlation of input and grad, the bias the sum.",
       "grad_input = conv_transpose(grad, weight)", "grad_weight = correlate(input, grad)",
       "grad_bias = grad.sum(all dims but channels)"),
    # ----------------------------------------------------------------- losses and layers
    _r("MseLossBackward0", "Mean squared error (reduction='mean'): 2·(x − y)/N.",
       "grad_self = grad * 2 * (self - target) / N", "grad_target = -grad_self",
       math="∂ mean((x − y)²)/∂x = 2(x − y)/N"),
    _r("L1LossBackward0", "Mean absolute error: sign(x − y)/N.",
       "grad_self = grad * sign(self - target) / N", math="∂ mean|x − y|/∂x = sign(x − y)/N"),
    _r("NllLossBackward0", "Negative log-likelihood (reduction='mean'): −1/N at each sample's "
       "target class, 0 elsewhere.", "grad_self[i, target[i]] = -grad / N",
       math="∂(−mean log pₜ)/∂log pⱼ = −1/N if j = t else 0"),
    _r("NllLoss2DBackward0", "Negative log-likelihood per pixel (N, C, H, W), mean over the "
       "pixels: −1/N at each pixel's target class, 0 elsewhere.",
       "grad_self[n, target[n, h, w], h, w] = -grad / N",
       math="∂(−mean log pₜ)/∂log pⱼ = −1/N if j = t else 0"),
    _r("BinaryCrossEntropyBackward0", "Binary cross-entropy on probabilities p.",
       "grad_self = grad * (self - target) / (self * (1 - self)) / N",
       math="∂ BCE/∂p = (p − y)/(p(1 − p)) / N"),
    _r("BinaryCrossEntropyWithLogitsBackward0", "BCE on logits z: σ(z) − y, over N.",
       "grad_self = grad * (sigmoid(self) - target) / N", math="∂ BCE/∂z = (σ(z) − y)/N"),
    _r("SmoothL1LossBackward0", "Smooth L1 (Huber-like): (x − y)/β inside, sign(x − y) outside.",
       "grad_self = grad * clamp((self - target) / beta, -1, 1) / N"),
    _r("NativeDropoutBackward0", "Dropout: kept units get the gradient scaled by 1/(1 − p), "
       "dropped ones get 0.", "grad_self = grad * mask / (1 - p)"),
    _r("NativeLayerNormBackward0", "Layer norm: gradient through normalization (mean and "
       "variance depend on every element), plus weight and bias.",
       "grad_input = (grad*w - mean(grad*w) - x_hat * mean(grad*w * x_hat)) / std",
       "grad_weight = sum(grad * x_hat)", "grad_bias = sum(grad)"),
    _r("NativeBatchNormBackward0", "Batch norm: gradient through the batch statistics, plus "
       "weight and bias.", "grad_input = (grad*w - mean(grad*w) - x_hat * mean(grad*w * x_hat))"
       " / std", "grad_weight = sum(grad * x_hat)", "grad_bias = sum(grad)"),
    _r("MaxPool2DWithIndicesBackward0", "Max pooling: each window's gradient goes to the "
       "element that was the max.", "grad_self = zeros(self.shape); grad_self[argmax] += grad"),
    _r("AvgPool2DBackward0", "Average pooling: each window's gradient is spread evenly over "
       "its elements.", "grad_self[window] += grad / window_size"),
    # ----------------------------------------------------------------- more tensor API
    _r("RoundBackward1", "Rounding to some decimals is flat between steps: zero gradient.",
       "grad_self = 0"),
    _r("TruncBackward0", "Truncation toward zero is flat between steps: zero gradient.",
       "grad_self = 0"),
    _r("FracBackward0", "The fractional part x − trunc(x) has slope 1 between steps.",
       "grad_self = grad"),
    _r("AsinBackward0", "arcsin: one over √(1 − x²).", "grad_self = grad / sqrt(1 - self**2)",
       math="d asin x/dx = 1/√(1 − x²)"),
    _r("AcosBackward0", "arccos: minus one over √(1 − x²).",
       "grad_self = -grad / sqrt(1 - self**2)", math="d acos x/dx = −1/√(1 − x²)"),
    _r("AtanBackward0", "arctan: one over 1 + x².", "grad_self = grad / (1 + self**2)",
       math="d atan x/dx = 1/(1 + x²)"),
    _r("Atan2Backward0", "atan2(y, x), the angle of the point (x, y): each input gets the other "
       "over the squared radius (with a minus sign for x).",
       "grad_self = grad * other / (self**2 + other**2)",
       "grad_other = -grad * self / (self**2 + other**2)"),
    _r("SinhBackward0", "sinh: multiply by cosh of the saved input.",
       "grad_self = grad * cosh(self)", math="d sinh x/dx = cosh x"),
    _r("CoshBackward0", "cosh: multiply by sinh of the saved input.",
       "grad_self = grad * sinh(self)", math="d cosh x/dx = sinh x"),
    _r("ProdBackward1", "Product along a dim: each element gets the product of the others in "
       "its slice.", "grad_self = grad * result / self (unsqueezed along dim)"),
    _r("CumprodBackward0", "Running product: element i feeds every later product, each "
       "divided by x_i.", "grad_self = reverse_cumsum(grad * result) / self"),
    _r("LinalgCrossBackward0", "Cross product a × b: a gets b × grad, b gets grad × a.",
       "grad_self = cross(other, grad)", "grad_other = cross(grad, self)"),
    _r("TraceBackward0", "Trace: the gradient lands on the diagonal.",
       "grad_self = grad * eye(n, m)"),
    _r("LinalgInvExBackward0", "Matrix inverse: −A⁻ᵀ · grad · A⁻ᵀ (the inverse is saved).",
       "grad_A = -inverse.mT @ grad @ inverse.mT", math="d(A⁻¹) = −A⁻¹ dA A⁻¹"),
    _r("LinalgDetBackward0", "Determinant: det(A) times the inverse transpose (Jacobi's "
       "formula).", "grad_A = grad * det * inverse(A).mT", math="∂ det A/∂A = det(A) A⁻ᵀ"),
    _r("LinalgSlogdetBackward0", "log|det A|: the inverse transpose.",
       "grad_A = grad * inverse(A).mT", math="∂ log|det A|/∂A = A⁻ᵀ"),
    _r("LinalgSolveExBackward0", "Solve A X = B: B gets A⁻ᵀ · grad, A gets minus that times "
       "Xᵀ.", "grad_B = solve(A.mT, grad)", "grad_A = -grad_B @ X.mT"),
    _r("AdaptiveAvgPool2DBackward0", "Adaptive average pooling: each output cell averaged "
       "its own window of the input, so that window gets the cell's gradient divided by its "
       "size.", "grad_self[window(i, j)] += grad[i, j] / window_size(i, j)"),
    _r("AdaptiveMaxPool2DBackward0", "Adaptive max pooling: each cell's gradient goes to the "
       "element that was the max of its window.",
       "grad_self = zeros(self.shape); grad_self[argmax] += grad"),
    _r("NativeGroupNormBackward0", "Group norm: the layer-norm rule within each group of "
       "channels of each sample, plus the per-channel weight and bias.",
       "grad_input = (g - mean(g) - x_hat * mean(g * x_hat)) / std,  g = grad * weight",
       "grad_weight = sum(grad * x_hat)", "grad_bias = sum(grad)"),
    _r("HuberLossBackward0", "Huber loss: the error d = x − y inside ±delta, ±delta outside "
       "(divided by N for the mean).", "grad_self = grad * clamp(self - target, -delta, delta)"
       " / N", "grad_target = -grad_self", math="∂/∂x = d if |d| < δ else δ·sign(d)"),
    _r("ConstantPadNdBackward0", "Constant padding: the padded border was a constant, so the "
       "gradient is cut back to the input's region.", "grad_self = grad[unpadded region]"),
    _r("ReflectionPad1DBackward0", "Reflection padding: each mirrored copy sends its gradient "
       "back to the element it copied.", "grad_self = scatter_add(grad) over the mirrored "
       "indices"),
    _r("ReflectionPad2DBackward0", "Reflection padding: each mirrored copy sends its gradient "
       "back to the element it copied.", "grad_self = scatter_add(grad) over the mirrored "
       "indices"),
    _r("ReflectionPad3DBackward0", "Reflection padding: each mirrored copy sends its gradient "
       "back to the element it copied.", "grad_self = scatter_add(grad) over the mirrored "
       "indices"),
    _r("ReplicationPad1DBackward0", "Replication padding: the border copies send their "
       "gradient back to the edge element they repeat.", "grad_self = scatter_add(grad) over "
       "the clamped indices"),
    _r("ReplicationPad2DBackward0", "Replication padding: the border copies send their "
       "gradient back to the edge element they repeat.", "grad_self = scatter_add(grad) over "
       "the clamped indices"),
    _r("ReplicationPad3DBackward0", "Replication padding: the border copies send their "
       "gradient back to the edge element they repeat.", "grad_self = scatter_add(grad) over "
       "the clamped indices"),
    _r("CeluBackward0", "CELU: 1 for x > 0, exp(x/α) otherwise.",
       "grad_self = grad * where(self > 0, 1, exp(self / alpha))", math="1 or e^(x/α)"),
    _r("LogSigmoidBackward0", "log σ(x): its derivative is 1 − σ(x) = σ(−x).",
       "grad_self = grad * (1 - sigmoid(self))", math="d log σ(x)/dx = σ(−x)"),
    _r("GeluBackwardBackward0", "The GELU gradient rule differentiated again: its inputs "
       "are the incoming gradient and x.", "grad_grad_output = grad * gelu'(self)",
       "grad_self = grad * grad_output * gelu''(self)", math="gelu''(x) = φ(x)·(2 − x²)"),
    _r("MishBackward0", "Mish x·tanh(softplus(x)): tanh(sp) + x·σ(x)·(1 − tanh²(sp)).",
       "grad_self = grad * (tanh(sp) + self * sigmoid(self) * (1 - tanh(sp)**2)),  "
       "sp = softplus(self)"),
    # ----------------------------------------------------------------- indexing, sorting, pieces
    _r("Log10Backward0", "Base-10 log: divide by the saved input times ln 10.",
       "grad_self = grad / (self * ln(10))", math="d log₁₀x/dx = 1/(x·ln 10)"),
    _r("Log2Backward0", "Base-2 log: divide by the saved input times ln 2.",
       "grad_self = grad / (self * ln(2))", math="d log₂x/dx = 1/(x·ln 2)"),
    _r("Exp2Backward0", "2ˣ: the saved output times ln 2.", "grad_self = grad * result * ln(2)",
       math="d 2ˣ/dx = 2ˣ·ln 2"),
    _r("ScatterBackward0", "scatter(dim, index, src): the overwritten positions of self send "
       "nothing back; src gets the gradient at the positions it was written to.",
       "grad_self = grad.scatter(dim, index, 0)", "grad_src = grad.gather(dim, index)"),
    _r("ScatterBackward1", "scatter(dim, index, value): the overwritten positions were a "
       "constant, so they send nothing back.", "grad_self = grad.scatter(dim, index, 0)"),
    _r("ScatterAddBackward0", "scatter_add: self gets the gradient unchanged, src the gradient "
       "at the positions it was added to.", "grad_self = grad",
       "grad_src = grad.gather(dim, index)"),
    _r("IndexAddBackward0", "index_add: self gets the gradient unchanged, source the gradient "
       "of the slices it was added to (times alpha).", "grad_self = grad",
       "grad_source = grad.index_select(dim, index) * alpha"),
    _r("MaskedSelectBackward0", "masked_select: each picked element gets its gradient back, "
       "the others 0.", "grad_self = zeros(self.shape).masked_scatter(mask, grad)"),
    _r("MaskedFillBackward1", "masked_fill with a tensor value: the filled positions send "
       "their gradient to the value, the others to self.",
       "grad_self = grad.masked_fill(mask, 0)", "grad_value = grad[mask].sum()"),
    _r("TopkBackward0", "topk: each of the k values sends its gradient back to the index it "
       "came from, the others get 0.", "grad_self = zeros(self.shape).scatter(dim, indices, "
       "grad)"),
    _r("SortBackward0", "sort: the gradient is put back in the original order (the saved "
       "indices).", "grad_self = zeros(self.shape).scatter(dim, indices, grad)"),
    _r("KthvalueBackward0", "kthvalue: the gradient goes to the index of the k-th smallest "
       "value, 0 elsewhere.", "grad_self = zeros(self.shape).scatter(dim, indices, grad)"),
    _r("SplitWithSizesBackward0", "split into given sizes: the pieces' gradients are "
       "concatenated back (zeros for a piece that got none).",
       "grad_self = cat(grads, dim)"),
    _r("TrilBackward0", "Lower triangle: the gradient passes below the diagonal, 0 above.",
       "grad_self = grad.tril(diagonal)"),
    _r("TriuBackward0", "Upper triangle: the gradient passes above the diagonal, 0 below.",
       "grad_self = grad.triu(diagonal)"),
    _r("FlipBackward0", "flip: the gradient is flipped back.", "grad_self = grad.flip(dims)"),
    _r("RollBackward0", "roll: the gradient is rolled back by the opposite shift.",
       "grad_self = grad.roll(-shifts, dims)"),
    _r("DiagEmbedBackward0", "A vector on a diagonal: each entry gets the gradient of its "
       "diagonal position.", "grad_self = grad.diagonal(offset)"),
    _r("DiagonalBackward0", "The diagonal of a matrix: the gradient goes to the diagonal, 0 "
       "elsewhere.", "grad_self = zeros(self.shape) with grad on the diagonal"),
    _r("TanBackward0", "Tangent: 1 + tan², from the saved output.",
       "grad_self = grad * (1 + result**2)", math="d tan x/dx = 1 + tan²x"),
    _r("DiagonalBackward0_copy", "diag(matrix), a copy of the diagonal: the gradient goes to "
       "the diagonal, 0 elsewhere.", "grad_self = zeros(self.shape) with grad on the diagonal"),
]

RULES: dict[str, Rule] = {r.name: r for r in _LIST}

CUSTOM = Rule(
    "BackwardCFunction", "A custom autograd.Function: its own backward(ctx, *grad_outputs), your "
    "code, turns the incoming gradient into one gradient per forward input, using what forward "
    "kept with ctx.save_for_backward.",
    ("grads = Function.backward(ctx, grad)",), "∂L/∂x = backward(ctx, ∂L/∂y)")
RULES[CUSTOM.name] = CUSTOM

_PREFIX = "torch::autograd::"


def rule_for_node(node: object) -> Rule:
    """The rule of a graph node; a custom autograd.Function's node names its class."""
    fn_cls = getattr(node, "_forward_cls", None)
    cls_name = fn_cls.__name__ if fn_cls is not None else getattr(node, "_fn_cls_name", None)
    if cls_name is not None:
        return Rule(CUSTOM.name, CUSTOM.words,
                    (f"grads = {cls_name}.backward(ctx, grad)",), CUSTOM.math)
    name = node.name() if hasattr(node, "name") else type(node).__name__
    return rule_for(name)


def rule_for(name: str) -> Rule:
    """The rule of node ``name`` (``MulBackward0``, ``torch::autograd::AccumulateGrad``...),
    or the generic chain-rule description."""
    if name.startswith(_PREFIX):
        name = name[len(_PREFIX):]
    return RULES.get(name, GENERIC)
