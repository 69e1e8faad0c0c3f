from probmoll.cli import main

raise SystemExit(main())
