import type { DetailedHTMLProps, HTMLAttributes } from 'react';

// App Bridge's navigation menu: the admin shows its links in its own sidebar.
declare module 'react' {
  namespace JSX {
    interface IntrinsicElements {
      'ui-nav-menu': DetailedHTMLProps<HTMLAttributes<HTMLElement>, HTMLElement>;
    }
  }
}
