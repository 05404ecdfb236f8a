"""zoobench model zoo: registered efficient-CNN variants with paper metadata.

Importing `zoo` registers every family. Use `list_models`, `get_model`, `get_meta`.
"""
from zoo.registry import get_entry, get_meta, get_model, list_models, register_model, resolve_patterns  # noqa: F401
from zoo.layers.reparam import deploy_form  # noqa: F401

# Family modules register their variants on import; order only affects nothing but load time.
from zoo import vgg_cifar, resnet_cifar, mobilenet_cifar, hetconv_imagenet, external, ghostnet, repghost, repvgg, mobilenet_v1, g_ghostnet, rmnet, dbb, shufflenet_v1, pruned, lowrank  # noqa: F401,E402
# Derived variants (bench prune / bench lowrank) load last: their parents must be registered.
from zoo import derived  # noqa: F401,E402
