"""The 9:16 safe zone: the part of a vertical frame that the platforms' own interface leaves
visible.

TikTok, Instagram/Facebook Reels and YouTube Shorts draw over the video: tabs and search at the
top, the like/comment/share/profile column on the right, username, description and sound at
the bottom. The commonly published TikTok/Reels safe areas for 1080x1920 keep clear the top
10-14 %, the bottom 20 % or more, the right 12-17 % and the left 5-6 %. The values below sit in
those ranges; at 1080x1920 they are top 230 px, bottom 384 px, left 65 px, right 151 px, which
leaves a 864x1306 px area from (65, 230). (Meta's guidance for Reels *ads* is stricter at the
bottom, 35 %, where an ad's call-to-action sits.)
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SafeZone:
    """How much of the frame to keep clear: fractions of the height (top, bottom) and of the
    width (left, right)."""

    top: float
    bottom: float
    left: float
    right: float

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) pixel edges of the visible area of a `width`x`height`
        frame: columns left..right-1 and rows top..bottom-1 are safe."""
        return (
            round(width * self.left),
            round(height * self.top),
            width - round(width * self.right),
            height - round(height * self.bottom),
        )


VERTICAL_SAFE_ZONE = SafeZone(top=0.12, bottom=0.20, left=0.06, right=0.14)


def is_vertical(width: int, height: int) -> bool:
    """Portrait outputs (9:16 presets) are the ones the platforms' interface covers."""
    return height > width
