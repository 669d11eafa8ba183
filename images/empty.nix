# An image with nothing but its name, as in the original README's CLI
# example: the customisation layer (/tmp) and the config.
{ image.name = "empty"; }
