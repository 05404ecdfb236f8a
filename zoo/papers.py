"""Publications referenced by zoo metadata (one place, so titles and links stay consistent)."""
from zoo.meta import Paper

HETCONV = Paper("HetConv: Heterogeneous Kernel-Based Convolutions for Deep CNNs", 2019, "https://arxiv.org/abs/1903.04120")
RESNET = Paper("Deep Residual Learning for Image Recognition", 2016, "https://arxiv.org/abs/1512.03385")
VGG = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition", 2015, "https://arxiv.org/abs/1409.1556")
MOBILENET_V1 = Paper("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications", 2017, "https://arxiv.org/abs/1704.04861")
MOBILENET_V2 = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018, "https://arxiv.org/abs/1801.04381")
MOBILENET_V3 = Paper("Searching for MobileNetV3", 2019, "https://arxiv.org/abs/1905.02244")
SHUFFLENET_V2 = Paper("ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", 2018, "https://arxiv.org/abs/1807.11164")
PRUNING_FILTERS = Paper("Pruning Filters for Efficient ConvNets", 2017, "https://arxiv.org/abs/1608.08710")
