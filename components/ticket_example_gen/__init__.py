"""TicketExampleGen: synthetic help-desk tickets with a known labelling rule and ceiling."""

from components.ticket_example_gen.component import TicketExampleGen, TicketExampleGenError

__all__ = ["TicketExampleGen", "TicketExampleGenError"]
