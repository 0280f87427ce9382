from tlcompare.cli import main

raise SystemExit(main())
