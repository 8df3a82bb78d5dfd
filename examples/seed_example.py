"""The two code blocks of lucid's MobileNet_V3 documentation page, verbatim."""

import lucid.models as models

config = models.MobileNetV3Config(
    bottleneck_cfg=[
        (3, 16, 16, True, False, 2, 2),
        (3, 72, 24, False, False, 2, 4),
    ],
    last_channels=1024,
    num_classes=10,
    in_channels=1,
)
model = models.MobileNet_V3(config)
print(model)

import lucid  # noqa: E402

input_tensor = lucid.zeros(1, 1, 224, 224)
output = model(input_tensor)
print(output)
