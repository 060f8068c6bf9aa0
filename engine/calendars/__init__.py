"""The working-day calendar: which days are official working days, year by year, and where that is known from.

Precedence per year: the deployment's calendar file (CLOSELOOP_CALENDAR_FILE, the State Council's schedule
as an office types it in), then the ``chinesecalendar`` package, then the ``holidays`` package (statutory
days only, no make-up working days: unofficial), then Monday to Friday. Only the first two are official.
"""
