"""``python -m gradviz`` is the ``gradviz`` command."""

from gradviz.app import main

raise SystemExit(main())
