"""The model's convolutions behave as nn.Conv1d modules do: forward hooks
and pre-hooks fire, pruning, weight norm and parametrizations change what
runs, and the packed-weight cache never serves weights that are not the
module's current ones. Each is compared with Hugging Face's model, whose
convolutions are plain nn.Conv1d."""
import gc

import pytest
import torch
from torch.nn.utils import parametrize, prune

import sqbert_kernels as sk

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=120, hidden_size=96, num_attention_heads=4, intermediate_size=192,
             num_hidden_layers=2, embedding_size=96, max_position_embeddings=64)


def pair(converted: bool):
    """A Hugging Face model and this package's twin with the same weights:
    this package's class, or the Hugging Face model converted by optimize()."""
    config = transformers.SqueezeBertConfig(**SMALL)
    hf = transformers.SqueezeBertModel(config).eval()
    twin = transformers.SqueezeBertModel(config).eval() if converted else sk.SqueezeBertModel(config).eval()
    twin.load_state_dict(hf.state_dict())
    return hf, sk.optimize(twin) if converted else twin


def run(model, ids):
    with torch.no_grad():
        return model(ids).last_hidden_state


CONVS = ["attention.query", "attention.value", "post_attention.conv1d", "intermediate.conv1d", "output.conv1d"]


def conv_of(model, name, layer=0):
    return model.encoder.layers[layer].get_submodule(name)


@pytest.mark.parametrize("converted", [False, True], ids=["SqueezeBertModel", "optimize"])
@pytest.mark.parametrize("name", CONVS)
def test_forward_hooks_see_what_conv1d_gives(converted, name):
    hf, ours = pair(converted)
    ids = torch.randint(0, 120, (2, 11))
    seen = {}

    def hook(key):
        def record(module, args, output):
            seen[key] = (args[0].clone(), output.clone())
            return output * 2.0  # a hook that changes the output changes the model
        return record

    conv_of(hf, name).register_forward_hook(hook("hf"))
    conv_of(ours, name).register_forward_hook(hook("ours"))
    want = run(hf, ids)
    got = run(ours, ids)
    torch.testing.assert_close(seen["ours"][0], seen["hf"][0], rtol=0, atol=1e-4)
    torch.testing.assert_close(seen["ours"][1], seen["hf"][1], rtol=0, atol=1e-4)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("converted", [False, True], ids=["SqueezeBertModel", "optimize"])
def test_pre_hooks_and_module_hooks_fire(converted):
    hf, ours = pair(converted)
    ids = torch.randint(0, 120, (2, 11))
    for model in (hf, ours):
        model.encoder.layers[1].intermediate.conv1d.register_forward_pre_hook(lambda m, args: (args[0] * 0.5,))
        model.encoder.layers[0].output.register_forward_hook(lambda m, args, out: out + 1.0)
    torch.testing.assert_close(run(ours, ids), run(hf, ids), rtol=0, atol=1e-4)


@pytest.mark.parametrize("converted", [False, True], ids=["SqueezeBertModel", "optimize"])
def test_pruning_and_weight_norm_apply(converted):
    hf, ours = pair(converted)
    ids = torch.randint(0, 120, (2, 11))
    for model in (hf, ours):
        prune.l1_unstructured(conv_of(model, "intermediate.conv1d"), "weight", amount=0.5)
        torch.nn.utils.weight_norm(conv_of(model, "attention.key", layer=1))
    torch.testing.assert_close(run(ours, ids), run(hf, ids), rtol=0, atol=1e-4)
    # Then the pruned weights' originals and the norm's gain change: outputs follow.
    for model in (hf, ours):
        with torch.no_grad():
            conv_of(model, "intermediate.conv1d").weight_orig.mul_(1.7)
            conv_of(model, "attention.key", layer=1).weight_g.mul_(0.3)
    moved = run(hf, ids)
    torch.testing.assert_close(run(ours, ids), moved, rtol=0, atol=1e-4)


class Scale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, w):
        return w * self.gain


@pytest.mark.parametrize("converted", [False, True], ids=["SqueezeBertModel", "optimize"])
def test_parametrizations_apply_and_follow_their_parameters(converted):
    hf, ours = pair(converted)
    ids = torch.randint(0, 120, (2, 11))
    for model in (hf, ours):
        for name in ("attention.query", "output.conv1d"):
            parametrize.register_parametrization(conv_of(model, name), "weight", Scale())
    for gain in (1.0, 0.5, 2.0, 0.25):
        for model in (hf, ours):
            for name in ("attention.query", "output.conv1d"):
                with torch.no_grad():
                    conv_of(model, name).parametrizations.weight[0].gain.fill_(gain)
        torch.testing.assert_close(run(ours, ids), run(hf, ids), rtol=0, atol=1e-4, msg=lambda m: f"gain {gain}: {m}")


def test_a_new_weight_at_a_freed_address_is_not_the_cached_one():
    # The cache once keyed on (version, data_ptr): a new tensor allocated
    # where the old one was freed looked unchanged and ran stale weights.
    _, ours = pair(False)
    ids = torch.randint(0, 120, (2, 11))
    conv = conv_of(ours, "attention.query")
    base = conv.weight.detach().clone()
    for round in range(50):
        scale = 1.0 + 0.01 * (round + 1)
        conv.weight = None  # the old weight freed before the new one is made
        gc.collect()
        conv.weight = torch.nn.Parameter(base * scale)
        got = run(ours, ids)
        want = ours(ids).last_hidden_state.detach()  # gradients wanted: weights read in place
        torch.testing.assert_close(got, want, rtol=0, atol=1e-4, msg=lambda m: f"round {round}: {m}")
