"""The built-in CLIP vocabulary, and reading a vocabulary from a file.

The built-in vocabulary (written for prime_rs) names what failure modes are usually made of:
common objects, scenes, colours, materials, actions and photo conditions. Each group has its
own prompt templates, and zero-shot scores are a softmax within a group: an image gets an
answer to "which object", "which scene", "which colour", ... rather than colours competing
with objects.

A vocabulary file has one tag per line; blank lines and lines starting with ``#`` are
ignored; a line ``[name]`` starts a group (tags before the first header form the group
``tags``). Groups named like a built-in group use its templates; others use generic ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prime_rs.errors import InputError

__all__ = ["BUILTIN", "GENERIC_TEMPLATES", "Group", "read_vocabulary"]

#: Templates for tags of a user vocabulary (``{}`` is the tag).
GENERIC_TEMPLATES = (
    "a photo of {}.",
    "a photo of a {}.",
    "a photo showing {}.",
    "an image with {}.",
)


@dataclass(frozen=True)
class Group:
    """Tags whose zero-shot scores compete with each other (one softmax), and their prompts."""

    name: str
    tags: tuple[str, ...]
    templates: tuple[str, ...] = GENERIC_TEMPLATES

    def prompts(self, tag: str) -> list[str]:
        """The prompts of one tag (their text embeddings are averaged).

        Examples
        --------
        >>> Group("colours", ("red",), ("a {} thing.",)).prompts("red")
        ['a red thing.']
        """
        return [t.format(tag) for t in self.templates]


_OBJECTS = """
person, man, woman, child, baby, boy, girl, crowd, face, hand, dog, puppy, cat, kitten,
horse, pony, cow, sheep, goat, pig, chicken, duck, goose, bird, parrot, owl, eagle, pigeon,
swan, penguin, fish, shark, dolphin, whale, turtle, frog, lizard, snake, crocodile, insect,
butterfly, bee, spider, deer, bear, polar bear, panda, monkey, elephant, giraffe, zebra,
lion, tiger, leopard, fox, wolf, rabbit, squirrel, mouse, camel, car, truck, bus, van, taxi,
motorcycle, bicycle, scooter, train, tram, airplane, helicopter, boat, ship, sailboat,
canoe, tractor, fire truck, ambulance, police car, traffic light, stop sign, street sign,
road sign, parking meter, fire hydrant, bench, lamp post, fence, gate, house, building,
skyscraper, tower, bridge, church, castle, tent, barn, window, door, stairs, wall, roof,
chimney, balcony, fountain, statue, monument, flag, tree, palm tree, bush, flower, grass,
leaf, plant, cactus, mushroom, rock, chair, table, sofa, bed, desk, shelf, cabinet, mirror,
clock, curtain, television, computer, laptop, keyboard, computer mouse, phone, camera,
headphones, microphone, screen, book, newspaper, sheet of paper, pen, pencil, scissors, bag,
backpack, handbag, suitcase, umbrella, hat, cap, helmet, glasses, sunglasses, mask, scarf,
tie, glove, shirt, t-shirt, jacket, coat, dress, skirt, jeans, trousers, shorts, sweater,
hoodie, uniform, suit, swimsuit, shoe, boot, sneaker, sandal, sock, jewelry, necklace, ring,
watch, bracelet, earring, toy, teddy bear, doll, ball, kite, balloon, guitar, piano, violin,
drum, trumpet, cup, mug, drinking glass, bottle, wine glass, plate, bowl, fork, knife,
spoon, pot, pan, kettle, oven, refrigerator, microwave, sink, toilet, bathtub, towel, soap,
toothbrush, vase, candle, food, bread, cake, pizza, sandwich, hamburger, hot dog, salad,
soup, pasta, rice, sushi, cheese, egg, meat, fruit, apple, banana, orange fruit, grape,
strawberry, lemon, watermelon, vegetable, tomato, carrot, broccoli, potato, corn, coffee,
tea, juice, wine, beer, ice cream, cookie, donut, chocolate, candy, basket, box, barrel,
bucket, ladder, rope, chain, wheel, tire, engine, tool, hammer, saw, axe, shovel, sword,
gun, blade, net, fishing rod, surfboard, skateboard, snowboard, ski, tennis racket, baseball
bat, golf club, frisbee, sports ball, football, basketball, soccer ball, dumbbell, cart,
stroller, wheelchair, crutch, robot, drone, computer monitor, printer, cable, antenna,
satellite dish, solar panel, wind turbine, power line, pipe, sign, poster, painting, picture
frame, map, letter, text, logo, graffiti, trash can
"""

_SCENES = """
indoors, outdoors, kitchen, living room, bedroom, bathroom, dining room, office, classroom,
library, shop, supermarket, market, restaurant, bar, cafe, hospital, laboratory, factory,
warehouse, garage, parking lot, gas station, street, road, highway, alley, sidewalk,
crosswalk, city, town, village, suburb, countryside, farm, field, meadow, garden, park,
playground, forest, jungle, woods, desert, beach, coast, sea, ocean, lake, river, waterfall,
pond, swamp, mountain, hill, valley, cliff, cave, volcano, glacier, snowy landscape, ice
field, sky, clouds, sunset, sunrise, night sky, space, underwater, harbor, port, airport,
train station, bus stop, subway station, bridge over water, stadium, sports field, swimming
pool, gym, theater, concert, stage, museum, church interior, temple, zoo, aquarium, circus,
construction site, ruins, cemetery, prison, military base, battlefield, stable, barn
interior, greenhouse, rooftop balcony view, staircase, hallway, elevator, basement, attic,
tunnel, studio, backdrop, white background, black background, plain background
"""

_COLOURS = """
red, orange, yellow, green, blue, purple, pink, brown, black, white, grey, beige, gold,
silver, turquoise, navy blue, dark green, light blue, maroon, cream, colourful, black and
white, monochrome
"""

_MATERIALS = """
wood, metal, plastic, glass, stone, brick, concrete, marble, paper, cardboard, fabric,
cotton, wool, leather, fur, silk, denim, lace, rubber, ceramic, porcelain, clay, sand, mud,
snow, ice, water, foam, velvet, straw, wicker, bamboo, rust, chrome, gold foil
"""

_ACTIONS = """
standing, sitting, lying down, walking, running, jumping, climbing, swimming, diving,
flying, riding, driving, cycling, skating, skiing, surfing, dancing, singing, playing music,
playing sports, eating, drinking, cooking, reading, writing, working, sleeping, talking,
shouting, laughing, smiling, crying, hugging, kissing, fighting, waving, pointing, holding
something, carrying something, throwing, catching, kicking, pushing, pulling, painting a
picture, photographing, shopping, waiting, queuing, praying, hiking, fishing, camping,
gardening, cleaning, repairing, building something, teaching, studying
"""

_CONDITIONS = """
close-up, macro shot, wide shot, aerial view, top-down view, low angle, high angle, side
view, from behind, portrait, landscape orientation, selfie, group photo, crowded scene,
empty scene, blurry, out of focus, motion blur, sharp, grainy, noisy, pixelated, low
resolution, overexposed, underexposed, dark, bright, backlit, silhouette, shadow, glare,
lens flare, sunny, cloudy, rainy, foggy, snowing, stormy, night, daytime, dusk, artificial
light, neon lights, candlelight, flash photography, black and white photo, sepia, vintage
photo, old photo, film photo, drawing, oil painting, sketch, cartoon, illustration,
rendering, 3d render, screenshot, diagram, watermark, text overlay, border, frame, collage,
cropped, partially visible, occluded, reflection in a mirror, seen through a window, on a
screen, toy version, miniature model
"""


def _lines(block: str) -> tuple[str, ...]:
    """Tags from a block of comma-separated tags (line breaks are only for layout)."""
    return tuple(t.strip() for t in " ".join(block.split("\n")).split(",") if t.strip())


#: The built-in vocabulary: groups of tags with their prompt templates.
BUILTIN: tuple[Group, ...] = (
    Group(
        "objects",
        _lines(_OBJECTS),
        (
            "a photo of a {}.",
            "a photo of the {}.",
            "a close-up photo of a {}.",
            "a {} in the scene.",
        ),
    ),
    Group(
        "scenes",
        _lines(_SCENES),
        ("a photo of a {}.", "a photo taken in a {}.", "a photo of a scene: {}."),
    ),
    Group(
        "colours",
        _lines(_COLOURS),
        ("a photo where the main colour is {}.", "a {} photo.", "something {}."),
    ),
    Group(
        "materials",
        _lines(_MATERIALS),
        ("a photo of something made of {}.", "a close-up of {}.", "the texture of {}."),
    ),
    Group(
        "actions",
        _lines(_ACTIONS),
        ("a photo of someone {}.", "a photo of a person {}.", "a photo of an animal {}."),
    ),
    Group(
        "conditions",
        _lines(_CONDITIONS),
        ("a {} photo.", "a photo: {}.", "an image, {}."),
    ),
)


def read_vocabulary(path: str | Path) -> tuple[Group, ...]:
    """Read a vocabulary file: one tag per line, ``[group]`` headers, ``#`` comments.

    Raises
    ------
    InputError
        The file is missing, unreadable or has no tags, or a tag appears twice.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = p.write_text("# animals\\ndog\\ncat\\n[colours]\\nred\\n")
    >>> [(g.name, g.tags) for g in read_vocabulary(p)]
    [('tags', ('dog', 'cat')), ('colours', ('red',))]
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{p}: vocabulary file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot be read as text ({e})") from None
    builtin = {g.name: g.templates for g in BUILTIN}
    groups: list[tuple[str, list[str]]] = [("tags", [])]
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if not name:
                raise InputError(f"{p}: line {number}: a group header needs a name, e.g. [colours]")
            groups.append((name, []))
            continue
        if line in seen:
            raise InputError(f"{p}: tag {line!r} is on lines {seen[line]} and {number}")
        seen[line] = number
        groups[-1][1].append(line)
    out = tuple(
        Group(name, tuple(tags), builtin.get(name, GENERIC_TEMPLATES))
        for name, tags in groups
        if tags
    )
    if not out:
        raise InputError(f"{p}: no tags (write one tag per line)")
    return out


def flatten(groups: Sequence[Group]) -> list[str]:
    """All tags of ``groups``, in order; raises :class:`InputError` if one is in two groups.

    Examples
    --------
    >>> len(flatten(BUILTIN)) > 500
    True
    """
    out: list[str] = []
    seen: dict[str, str] = {}
    for g in groups:
        for t in g.tags:
            if t in seen:
                raise InputError(f"tag {t!r} is in two groups: {seen[t]} and {g.name}")
            seen[t] = g.name
            out.append(t)
    return out
