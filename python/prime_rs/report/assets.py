# ruff: noqa: E501  (the embedded style sheet and script keep their own line lengths)
"""The page template of the report: its style sheet and its small script (no external files)."""

from __future__ import annotations

__all__ = ["page"]

CSS = """
:root{--fg:#111827;--mut:#6b7280;--line:#e5e7eb;--bad:#dc2626;--acc:#2563eb;--bg:#f8fafc}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
 background:var(--bg)}
header.top{background:#0f172a;color:#f8fafc;padding:18px 28px}
header.top h1{margin:0;font-size:22px}header.top p{margin:4px 0 0;color:#cbd5e1}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);
 padding:8px 28px;display:flex;gap:18px;flex-wrap:wrap}
nav a{color:var(--acc);text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1500px}
h2{margin:28px 0 10px;font-size:19px}h3{margin:16px 0 8px;font-size:16px}
h3 small{font-weight:400;color:var(--mut);font-size:13px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:120px}
.tile .v{font-size:22px;font-weight:700}.tile .k{color:var(--mut);font-size:12px}
.ov{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:24px}
table{border-collapse:collapse;background:#fff}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:12px;color:var(--mut);font-weight:600}
td:not(:first-child){font-variant-numeric:tabular-nums}
.params{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:0}
.params dt{color:var(--mut)}.params dd{margin:0}
.help{color:var(--mut);font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px;
 box-shadow:0 1px 2px rgba(0,0,0,.04)}
.card:target{outline:3px solid var(--acc)}
.card header{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-bottom:6px}
.cls{font-weight:700;margin-right:4px}
.tag{background:#eef2ff;color:#3730a3;border-radius:999px;padding:1px 9px;font-size:13px}
.facts{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:13px}
.facts .drop{color:var(--bad);font-weight:700}.facts .hold{color:#065f46}
.ci{color:var(--mut);font-size:12px}
svg.bar{display:block;margin:6px 0}
.thumbs{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.thumb{margin:0;text-align:center;font-size:11px;color:var(--mut);width:64px}
.thumb .im{display:block;width:64px;height:64px;background-color:#fff;background-position:center;background-size:contain;background-repeat:no-repeat;image-rendering:pixelated;
 border:2px solid #d1fae5;border-radius:4px}
.thumb.bad .im{border-color:#fecaca}.thumb.bad figcaption{color:var(--bad)}
.thumb figcaption{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
details.lad summary,details.more summary{cursor:pointer;color:var(--acc);font-size:13px}
details.more{margin:10px 0}details.more>summary{font-weight:600}
table.ladder{font-size:12px;margin-top:4px;width:100%}
.lad{overflow-x:auto}
table.ladder tr.full td{font-weight:700}
table.ladder .h{background:#f0fdf4}
.scatterbox{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;
 display:inline-block}
.pt:hover circle{r:6}
#filters{display:flex;gap:10px;margin:8px 0;flex-wrap:wrap;align-items:center}
#filters input,#filters select{font:inherit;padding:4px 8px;border:1px solid #cbd5e1;border-radius:6px}
#modes{width:100%;font-size:13px}
#modes th{cursor:pointer;user-select:none;position:sticky;top:41px;background:#fff}
#modes th.asc::after{content:" ▲"}#modes th.desc::after{content:" ▼"}
#modes tbody tr:hover{background:#f1f5f9}
#modes a{color:var(--acc);text-decoration:none}
.neg{color:var(--bad)}
footer{color:var(--mut);font-size:12px;padding:0 28px 20px}
@media (max-width:900px){.ov{grid-template-columns:1fr}.cards{grid-template-columns:1fr}}
"""

SCRIPT = """
(function(){
const rows=JSON.parse(document.getElementById('mode-data').textContent);
const hasH=document.getElementById('modes').dataset.holdout==='1';
const cols=[['label','class',1],['tags','tags',2],['n','tags #',3],['s','support',4],
 ['a','accuracy',5],['ca','class acc.',6],['d','drop',7],['q','q-value',8],['cw','mistaken for',9]];
if(hasH){cols.push(['ha','holdout acc.',10],['hd','holdout drop',11],['hs','holdout n',12]);}
const pct=v=>v==null?'–':(v*100).toFixed(0)+'%';
const fmt=[null,null,null,v=>v,v=>v==null?'–':v.toLocaleString(),pct,pct,
 v=>v==null?'–':(v*100).toFixed(0)+' pts',v=>v==null?'–':(v<0.001?v.toExponential(1):v.toFixed(3)),
 v=>v||'–',pct,v=>v==null?'–':(v*100).toFixed(0)+' pts',v=>v==null?'–':v];
const table=document.getElementById('modes');
const thead=table.querySelector('thead');const tbody=table.querySelector('tbody');
const hr=document.createElement('tr');
cols.forEach(([k,name,i])=>{const th=document.createElement('th');th.textContent=name;
 th.dataset.i=i;hr.appendChild(th);});
thead.appendChild(hr);
let sortI=7,dir=-1;
const q=document.getElementById('q'),cs=document.getElementById('cls'),cnt=document.getElementById('count');
[...new Set(rows.map(r=>r[1]))].sort().forEach(c=>{const o=document.createElement('option');
 o.value=c;o.textContent=c;cs.appendChild(o);});
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function draw(){
 const words=q.value.toLowerCase().split(/\\s+/).filter(Boolean);const c=cs.value;
 let out=rows.filter(r=>(!c||r[1]===c)&&words.every(w=>(r[1]+' '+r[2]+' '+r[9]).toLowerCase().includes(w)));
 out.sort((a,b)=>{const x=a[sortI],y=b[sortI];if(x==null&&y==null)return 0;if(x==null)return 1;
  if(y==null)return -1;return (x<y?-1:x>y?1:0)*dir;});
 const html=[];
 for(const r of out){let t='<tr>';
  for(const [k,name,i] of cols){let v=fmt[i]?fmt[i](r[i]):esc(r[i]);
   if(i===2)v='<a href="#'+r[0]+'">'+esc(r[2])+'</a>';else if(i===1||i===9)v=esc(v);
   t+='<td>'+v+'</td>';}
  html.push(t+'</tr>');}
 tbody.innerHTML=html.join('');cnt.textContent=out.length+' of '+rows.length+' modes';
 thead.querySelectorAll('th').forEach(th=>{th.className=+th.dataset.i===sortI?(dir>0?'asc':'desc'):'';});
}
thead.addEventListener('click',e=>{const th=e.target.closest('th');if(!th)return;const i=+th.dataset.i;
 if(i===sortI)dir=-dir;else{sortI=i;dir=(i===1||i===2||i===8||i===9||i===5||i===10)?1:-1;}draw();});
q.addEventListener('input',draw);cs.addEventListener('change',draw);
window.addEventListener('hashchange',()=>{const el=document.getElementById(location.hash.slice(1));
 if(el){const d=el.closest('details.more');if(d)d.open=true;el.scrollIntoView();}});
draw();
})();
"""


def page(
    *,
    title: str,
    subtitle: str,
    overview: str,
    scatter: str,
    sections: str,
    table_json: str,
    has_holdout: bool,
    image_css: str,
    footer: str,
) -> str:
    """Assemble the report page from its parts (all already escaped HTML).

    Examples
    --------
    >>> html = page(title="t", subtitle="", overview="", scatter="", sections="",
    ...             table_json="[]", has_holdout=False, image_css="", footer="")
    >>> "<script" in html and "http" not in html
    True
    """
    scatter_part = (
        '<h2 id="generalization">Do the modes hold on unseen images?</h2>'
        '<p class="help">Each point is a failure mode: its accuracy drop on the images it was '
        "found on (detect) against the drop on images the search never saw (holdout), with "
        "the interval of the holdout drop. Points near the dashed line keep their drop; "
        "click one to see its card.</p>"
        f'<div class="scatterbox">{scatter}</div>'
        if scatter
        else ""
    )
    nav_gen = '<a href="#generalization">Generalization</a>' if scatter else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{CSS}{image_css}</style></head><body>"
        f'<header class="top"><h1>{title}</h1><p>{subtitle}</p></header>'
        '<nav><a href="#overview">Overview</a>'
        f'{nav_gen}<a href="#classes">Modes by class</a><a href="#all">All modes</a></nav>'
        f'<main><h2 id="overview">Overview</h2>{overview}{scatter_part}'
        f'<h2 id="classes">Failure modes by class</h2>{sections}'
        '<h2 id="all">All failure modes</h2>'
        '<div id="filters"><input id="q" type="search" placeholder="filter: class, tag, ...">'
        '<select id="cls"><option value="">all classes</option></select>'
        '<span id="count"></span></div>'
        f'<table id="modes" data-holdout="{1 if has_holdout else 0}"><thead></thead><tbody></tbody>'
        "</table></main>"
        f"<footer>{footer}</footer>"
        f'<script type="application/json" id="mode-data">{table_json}</script>'
        f"<script>{SCRIPT}</script></body></html>"
    )
